"""The Gradescope autograder zip: what it holds, and its run_autograder on a fake /autograder."""
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest
from click.testing import CliRunner

from autograder.cli import main
from autograder.course import notebook

from support import ROOT
from support.gradescope import built  # noqa: F401 (fixture: the zip, built and unpacked once a module)

SAMPLES = ROOT / "samples" / "gradient_checking"
POINTS = notebook.points(ROOT / "source" / "gradient_checking" / "gradient_checking.ipynb")
EXERCISES = list(POINTS)
TOTAL = sum(POINTS.values())


def run_autograder(unpacked, root, files):
    """Run the zip's run_autograder with Gradescope's folders under root; the results.json."""
    (root / "submission").mkdir(parents=True)
    (root / "results").mkdir()
    for name, path in files.items():
        shutil.copy(path, root / "submission" / name)
    env = dict(os.environ, AUTOGRADER_GRADESCOPE_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    proc = subprocess.run([str(unpacked / "run_autograder")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_the_zip_follows_gradescopes_layout_and_leaves_the_solutions_out(built):
    path, unpacked = built
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    assert {"setup.sh", "run_autograder"} <= set(names)
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert {"kit/pyproject.toml", "kit/assignments/gradient_checking/manifest.toml",
            "kit/assignments/gradient_checking/grader/checks.py", "kit/helpers/gradient_checking/gc_utils.py",
            "kit/helpers/gradient_checking/visible_test_helpers.py",
            "kit/autograder/judge/judge.py", "kit/gradescope.json"} <= set(names)
    assert not [n for n in names if n.endswith(".ipynb") or "__pycache__" in n]
    assert not [n for n in names if n.startswith("kit/assignments/") and not n.startswith("kit/assignments/gradient_checking/")]
    table = json.loads((unpacked / "kit" / "gradescope.json").read_text())
    assert [e["exercise"] for e in table["exercises"]] == EXERCISES
    assert table["max_score"] == TOTAL == sum(e["points"] for e in table["exercises"])
    for script in ("setup.sh", "run_autograder"):
        assert subprocess.run(["bash", "-n", str(unpacked / script)]).returncode == 0


def documented_local_try() -> list[str]:
    """The shell lines of docs/instructor.md's "Trying the Gradescope zip locally"."""
    text = (ROOT / "docs" / "instructor.md").read_text(encoding="utf-8")
    section = text.split("## Trying the Gradescope zip locally", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_documented_local_try_scores_the_perfect_sample_full_marks(tmp_path):
    """The guide's commands as written, run from the course folder (a relative AUTOGRADER_PYTHON
    included); only /tmp becomes this test's folder and ./kit this interpreter's autograder."""
    lines = documented_local_try()
    python = ROOT / ".venv" / "bin" / "python"
    relative = ".venv/bin/python" if python.exists() else os.path.relpath(sys.executable, ROOT)
    script = "\n".join(line.replace("/tmp/", f"{tmp_path}/").replace("./kit ", f"{sys.executable} -m autograder ")
                       .replace("AUTOGRADER_PYTHON=.venv/bin/python", f"AUTOGRADER_PYTHON={relative}")
                       for line in lines[:-1])  # the last line shows results.json
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert lines[-1] == "cat /tmp/gs/results/results.json"
    results = json.loads((tmp_path / "gs" / "results" / "results.json").read_text())
    assert results["score"] == TOTAL and results["stdout_visibility"] in ("hidden", "visible")
    assert [t["name"].split("(")[-1].rstrip(")") for t in results["tests"]] == EXERCISES
    assert all(t["score"] == t["max_score"] and t["visibility"] == "visible" for t in results["tests"])
    assert results["tests"][7]["name"] == "Exercise 8 - backward_propagation_n (test_backward_propagation_n)"
    assert f"{TOTAL:g} / {TOTAL:g}" in results["output"]


def test_buggy_backprop_loses_only_its_exercise_and_says_dW2(built, tmp_path):
    # any single notebook is graded, whatever its name
    results = run_autograder(built[1], tmp_path, {"bug_backprop_dW2.ipynb": SAMPLES / "bug_backprop_dW2.ipynb"})
    assert results["score"] == TOTAL - POINTS["test_backward_propagation_n"]
    tests = {t["name"].split("(")[-1].rstrip(")"): t for t in results["tests"]}
    backprop = tests["test_backward_propagation_n"]
    assert backprop["score"] == 0 and backprop["max_score"] == POINTS["test_backward_propagation_n"]
    assert "dW2" in backprop["output"]
    assert all(t["score"] == t["max_score"] for name, t in tests.items() if name != "test_backward_propagation_n")
    assert "bug_backprop_dW2.ipynb" in results["output"]


@pytest.mark.parametrize("files, message", [
    ({"gradient_checking.ipynb": SAMPLES / "not_json.ipynb"}, "is not valid JSON"),
    ({}, "No notebook (.ipynb) was found"),
    ({"a.ipynb": SAMPLES / "perfect.ipynb", "b.ipynb": SAMPLES / "perfect.ipynb"}, "none is named gradient_checking"),
], ids=["not_json", "nothing", "two_notebooks"])
def test_a_broken_submission_scores_zero_with_a_message(built, tmp_path, files, message):
    results = run_autograder(built[1], tmp_path, files)
    assert results["score"] == 0 and message in results["output"]
    assert len(results["tests"]) == len(EXERCISES) and all(t["score"] == 0 for t in results["tests"])


def test_each_zip_carries_only_its_own_assignment(tmp_path):
    """The lab's zip: its own folder, and of gradient_checking only the grader modules the lab's
    grader imports (the network's reference and cases), never that assignment's checks."""
    out = tmp_path / "lab.zip"
    result = CliRunner().invoke(main, ["gradescope", "gradient_checking_lab", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        names = [n for n in zf.namelist() if n.startswith("kit/assignments/")]
    own = [n for n in names if n.startswith("kit/assignments/gradient_checking_lab/")]
    assert "kit/assignments/gradient_checking_lab/grader/checks.py" in own
    assert "kit/assignments/gradient_checking_lab/manifest.toml" in own
    borrowed = sorted(set(names) - set(own))
    assert "kit/assignments/gradient_checking/grader/reference.py" in borrowed
    assert not [n for n in borrowed if n.endswith(("checks.py", "manifest.toml", ".ipynb"))], borrowed


def test_results_are_written_even_when_python_is_missing(built, tmp_path):
    (tmp_path / "results").mkdir()
    env = dict(os.environ, AUTOGRADER_GRADESCOPE_ROOT=str(tmp_path), AUTOGRADER_PYTHON=str(tmp_path / "no-python"))
    proc = subprocess.run([str(built[1] / "run_autograder")], env=env, capture_output=True, text=True, timeout=60)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["score"] == 0 and "could not start" in results["output"]
    assert proc.returncode != 0 and "no python at" in proc.stderr and "AUTOGRADER_PYTHON" in proc.stderr


def test_the_zip_goes_to_an_ignored_folder_by_default():
    from autograder.gradescope.build import default_zip
    zipped = default_zip("gradient_checking")
    ignored = subprocess.run(["git", "check-ignore", "-q", str(zipped)], cwd=ROOT)
    assert zipped.parent.name and ignored.returncode == 0, f"{zipped} is not ignored by git"
