"""The sandbox boundary at the two weaker isolation levels, and under Gradescope's runner.

tests/judge/test_attacks.py grades the whole corpus as root, the strongest level. Here one attack per
`class` of tests/data/attacks.toml is graded again beside the honest neighbours by the real
command line (`python -m autograder grade`), at:
  - "user": as an ordinary uid (tests/support/as_user.py), where unprivileged user namespaces work;
  - "refused": as root with unshare/setns/clone of namespaces refused by a seccomp filter
    (tests/support/refuse_namespaces.py), as under Docker's default profile: rlimits, a uid of its own,
    no_new_privs and no capabilities are all the child gets, and `grade` must say so.
Every row asserts what tests/judge/test_attacks.py asserts: the attacker gains nothing (rows marked
`weak_xfail` are the documented limits of the "refused" level), the neighbours keep full marks,
the batch finishes, and the canary, the kit, the venv and the course are unchanged.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from autograder.judge import cgroup

from support import SUPPORT
from support.attack_corpus import (EXERCISES, ROOT, boundary_breaches, build_attack, classic_gradients_literal,
                           expected_statuses, fingerprint, guarded_paths, load_sample, load_table, plant_targets,
                           remove_targets)
from support.gradescope import built  # noqa: F401 (fixture: the Gradescope zip, built and unpacked once)

TABLE = load_table("attacks.toml")
BASES = TABLE["bases"]
#: The first row of each class: one attack per class at the weaker levels.
BY_CLASS = {}
for _row in TABLE["attack"]:
    if "class" in _row:
        BY_CLASS.setdefault(_row["class"], _row)
ROWS = list(BY_CLASS.values())
#: The ordinary user of the "user" level: a uid no account uses, different per test process.
TEST_UID = 60000 + os.getpid() % 5000
LEVELS = ["user", "refused"]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching user or installing the filter needs root")


def _userns_works() -> bool:
    probe = subprocess.run([sys.executable, str(SUPPORT / "as_user.py"), str(TEST_UID), "unshare", "--user", "--map-root-user",
                            "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "true"], capture_output=True)
    return probe.returncode == 0


def _wrapper(level: str) -> list[str]:
    if level == "user":
        return [sys.executable, str(SUPPORT / "as_user.py"), str(TEST_UID)]
    return [sys.executable, str(SUPPORT / "refuse_namespaces.py")]


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _batch_folder(name: str) -> Path:
    parent = Path(os.environ.get("GC_ATTACK_DIR", "/srv"))
    if not (parent.is_dir() and os.access(parent, os.W_OK) and parent.stat().st_mode & 0o001):
        parent = Path(tempfile.gettempdir())
    folder = Path(tempfile.mkdtemp(prefix=f"gc-{name}-", dir=parent))
    folder.chmod(0o755)
    return folder


@pytest.fixture(scope="module", params=LEVELS)
def level_batch(request):
    level = request.param
    if os.geteuid() != 0:
        pytest.skip("switching user or installing the filter needs root")
    if level == "user" and not _userns_works():
        pytest.skip("unprivileged user namespaces are not available here")
    base = _batch_folder(f"level-{level}")
    submissions, out = base / "in", base / "out"
    submissions.mkdir()
    context = {"ROOT": ROOT, "OUT": out, "SUBMISSIONS": submissions, "TESTPID": os.getpid(), "TMPMARK": "/tmp/none",
               "CLASSIC_GRADIENTS": classic_gradients_literal(), **plant_targets(base, f"{base.name}")}
    try:
        for name in BASES:
            nbformat.write(load_sample(name), submissions / f"{name}.ipynb")
        for row in ROWS:
            nbformat.write(build_attack(row, {**context, "STUDENT": row["id"]}), submissions / f"{row['id']}.ipynb")
        if level == "user":
            for path in [submissions, *submissions.iterdir()]:
                os.chown(path, TEST_UID, TEST_UID)
            out.mkdir()
            os.chown(out, TEST_UID, TEST_UID)
        before = fingerprint(*guarded_paths())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV"))}
        env.update(HOME=str(out if level == "user" else base), PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
        proc = subprocess.run([*_wrapper(level), sys.executable, "-m", "autograder", "grade", str(submissions),
                               "--out", str(out), "--jobs", "2", "--time-limit", "20"],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
        after = fingerprint(*guarded_paths())
        rows: dict = {}
        if (out / "grades_by_exercise.csv").exists():
            for r in _read_csv(out / "grades_by_exercise.csv"):
                rows.setdefault(r["student_id"], {})[r["exercise"]] = r
        yield {"level": level, "proc": proc, "rows": rows, "breaches": boundary_breaches(context, before, after, out)}
    finally:
        remove_targets(context)
        shutil.rmtree(base, ignore_errors=True)


def test_the_batch_finishes_with_a_row_for_everyone(level_batch):
    proc = level_batch["proc"]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert set(level_batch["rows"]) == set(BASES) | {row["id"] for row in ROWS}


def test_grade_says_how_strong_the_isolation_is(level_batch):
    line = [x for x in level_batch["proc"].stdout.splitlines() if x.startswith("Isolation of student code:")]
    assert line, level_batch["proc"].stdout[-2000:]
    # Control groups: in force, or said to be missing under WEAK ISOLATION (an ordinary user may
    # not write a v1 hierarchy; root here may).
    grouped = "control group of its own" in line[0]
    assert grouped != ("WEAK ISOLATION: no control group" in line[0]), line[0]
    if level_batch["level"] == "refused":
        assert "WEAK ISOLATION" in line[0] and "no_new_privs" in line[0] and "unprivileged uid" in line[0]
        assert grouped == (cgroup.in_force() is not None)  # root: the same groups as this process
    else:
        assert "file system: only" in line[0] and "WEAK ISOLATION: student code" not in line[0]


@pytest.mark.parametrize("name", sorted(BASES))
def test_the_neighbours_keep_their_grades(level_batch, name):
    expected = expected_statuses({"expect": BASES[name]})
    got = {e: (r["status"], r["message"][:160]) for e, r in level_batch["rows"][name].items()}
    assert {e: s for e, (s, _) in got.items()} == expected, got


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_an_attack_gains_nothing(level_batch, row, request):
    if level_batch["level"] == "refused" and row.get("weak_xfail"):
        # Not strict: whether the uid may read the planted copy depends on where the batch lives
        # (a clone under /tmp puts it behind folders nobody may enter).
        request.applymarker(pytest.mark.xfail(reason=row["weak_xfail"], strict=False))
    got, base = level_batch["rows"][row["id"]], level_batch["rows"][row["base"]]
    expected = expected_statuses(row)
    for exercise in EXERCISES:
        assert float(got[exercise]["score"]) <= float(base[exercise]["score"]), (exercise, got[exercise]["message"])
        assert got[exercise]["status"] == expected[exercise], (exercise, got[exercise]["message"])


def test_nothing_crosses_the_sandbox_boundary(level_batch):
    assert level_batch["breaches"] == []


@pytest.mark.parametrize("row", [r for r in ROWS if "never_echoed" in r], ids=lambda r: r["id"])
def test_a_hidden_verdict_echoes_nothing_the_child_chose(level_batch, row):
    echoed = [(e, r["message"]) for e, r in level_batch["rows"][row["id"]].items() if row["never_echoed"] in r["message"]]
    assert not echoed


# -- Gradescope: results.json and the runner stay out of the child's reach --------------------

GRADESCOPE_ATTACK = '''
import os, signal
_mine = os.getpid()
for _entry in os.listdir("/proc"):
    if _entry.isdigit() and int(_entry) != _mine:
        try:
            with open("/proc/%s/cmdline" % _entry, "rb") as _f:
                _cmd = _f.read()
            if b"autograder.gradescope" in _cmd or b"run_autograder" in _cmd:
                os.kill(int(_entry), signal.SIGKILL)
        except OSError:
            pass
for _path in ("@GSROOT@/results/results.json", "@GSROOT@/results/forged.json"):
    try:
        with open(_path, "w") as _f:
            _f.write('{"score": 15, "output": "forged", "tests": []}')
    except OSError:
        pass
for _name in ("results.json", "stdout.txt", "exit_status"):
    try:
        os.symlink("@GSROOT@/results/results.json", _name)
    except OSError:
        pass
'''


@needs_root
@pytest.mark.parametrize("level", ["root", "refused"])
def test_a_gradescope_submission_cannot_write_its_result_or_stop_the_runner(built, tmp_path, level):
    """As Gradescope runs it (root), with and without namespaces: the attack (kill the runner,
    write results.json, plant links) leaves the judge's own result: 12/15 for the buggy base."""
    from nbformat.v4 import new_code_cell
    unpacked = built[1]
    root = tmp_path / "gs"
    (root / "submission").mkdir(parents=True)
    (root / "results").mkdir()
    nb = load_sample("bug_backprop_dW2")
    nb.cells.append(new_code_cell(GRADESCOPE_ATTACK.replace("@GSROOT@", str(root))))
    nbformat.write(nb, root / "submission" / "gradient_checking.ipynb")
    env = dict(os.environ, AUTOGRADER_GRADESCOPE_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    command = [str(unpacked / "run_autograder")]
    if level == "refused":
        command = [sys.executable, str(SUPPORT / "refuse_namespaces.py"), *command]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Isolation of student code:" in proc.stdout and ("WEAK ISOLATION" in proc.stdout) == (level == "refused")
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 12, results.get("output")
    assert not (root / "results" / "forged.json").exists()
    statuses = {t["name"].rsplit("(", 1)[1].rstrip(")"): t["status"] for t in results["tests"]}
    assert [e for e, s in statuses.items() if s != "passed"] == ["test_backward_propagation_n"], statuses

