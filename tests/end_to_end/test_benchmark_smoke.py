"""Smoke test of the grading benchmark (benchmarks/grading.py), so it cannot rot unnoticed.

Note: the second test runs the real thing end to end on 2 submissions — plain nbgrader,
`autograder grade` on the local pool and on a Dask LocalCluster, and the floor — in a temp folder; it takes 30-60 s (most of it the fixed
set-up of nbgrader and of the grading command, not the 2 notebooks), and it never writes
benchmarks/results/. The first test only builds a class of submissions (a second or two).
"""
import importlib.util
import json
import subprocess
import sys

from support import ROOT

SCRIPT = ROOT / "benchmarks" / "grading.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("grading_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_class_is_seeded_and_its_edits_still_apply_to_the_source():
    bench = load_benchmark()
    first = bench.make_class(25)  # raises SystemExit if an edit no longer matches the notebook
    again = bench.make_class(25)
    assert [(s, k) for s, k, _ in first] == [(s, k) for s, k, _ in again]
    correct = [k for _, k, _ in first if k in bench.CORRECT]
    assert len(correct) == 10 and set(correct) == set(bench.CORRECT)
    assert len({k for _, k, _ in first} - set(bench.CORRECT)) == 15  # a different bug for each buggy one


def test_the_time_split_knows_each_process_of_a_grading_run():
    from autograder.judge.judge import ZYGOTE_FILE, ZYGOTE_FOLDER_PREFIX
    from autograder.judge.sandbox import python_command
    role = load_benchmark().role_of
    zygote = python_command(f"/tmp/{ZYGOTE_FOLDER_PREFIX}k2j3/{ZYGOTE_FILE}", "5", "7")
    assert role(zygote, "orchestrator") == "sandbox"  # the zygote grade shares with its workers
    assert role(python_command("-c", "print(1)"), "orchestrator") == "sandbox"  # the isolation probe
    assert role(zygote, "worker") == "sandbox" and role(["x"], "sandbox") == "sandbox"  # a worker's own, children
    assert role([sys.executable, "-m", "autograder", "grade"], "orchestrator", "grading-worker") == "worker"
    assert role([sys.executable, "-m", "autograder", "grade"], "worker", "grading-worker") == "feedback helper"
    assert role([sys.executable, "-c", "import alembic"], "orchestrator") == "other"


def test_quick_run_measures_all_three_methods(tmp_path):
    results = tmp_path / "results"
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--n", "2", "--jobs", "2",
                          "--out", str(tmp_path / "work"), "--results", str(results)],
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    data = json.loads((results / "grading.json").read_text())
    assert data["n"] == 2 and data["failed_methods"] == []
    assert set(data["methods"]) == {"a", "b", "c", "d"}
    assert data["methods"]["d"]["same_csvs_as_b"] is True
    for method in data["methods"].values():
        assert method["submissions_per_minute"] > 0 and method["seconds"] > 0
    assert data["methods"]["c"]["sequential"]["submissions_per_minute"] > 0
    assert {t["name"] for t in data["targets"]} == {"throughput", "floor"}
    assert data["agreement"]["a_full_marks_on_buggy"] == data["agreement"]["b_full_marks_on_buggy"] == 0
    assert "| (b) autograder grade" in (results / "grading.md").read_text()
