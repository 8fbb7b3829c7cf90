"""Nothing gained by cheating: the tamper attacks of tests/data/attacks.toml, graded as one batch.

Each attack is a demo sample with one change (tests/support/attack_corpus.py builds it). The batch holds
every attack and the two honest bases as neighbours (`perfect`, full marks, and `bug_backprop_dW2`,
all but backprop's points), graded by `grade()` exactly as `autograder grade` would. An attack must get exactly its
row's statuses and never more points on any exercise than its honest base gets in the same
batch; the neighbours keep their grades; and nothing is written where a submission must not
write. The rows marked `kernel = true` are graded again with executor="kernel", and the one
row that aims at the other students of its batch is graded in a small batch of its own. A batch
lives in a world-readable folder outside /tmp when the machine has one (/srv, or GC_ATTACK_DIR),
as a real class's submissions do: the judge's child has a private /tmp, which would hide them.
"""
import csv
import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.judge import cgroup
from autograder.judge.budget import backstop_seconds, submission_budget
from autograder.judge.sandbox import Limits
from autograder.pipeline.run.grade import GradingRun, grade

from support.attack_corpus import (EXERCISES, HONEST_TOTALS, MAX_SCORE, ROOT, alive, boundary_breaches, build_attack,
                           classic_gradients_literal, expected_statuses, fingerprint, guarded_paths, load_sample,
                           load_table, plant_targets, processes_named, remove_targets, tree_hashes)

TABLE = load_table("attacks.toml")
BASES = TABLE["bases"]
ATTACKS = [row for row in TABLE["attack"] if row.get("batch", "main") == "main"]
KERNEL_ATTACKS = [row for row in ATTACKS if row.get("kernel")]
CONCURRENT = [row for row in TABLE["attack"] if row.get("batch") == "concurrent"]
LIMITS = Limits(wall_seconds=20, processes=64)  # a fork bomb's 64 forks cost little CPU
#: Folders of the kit no submission may change (hashed before and after the batch).
GUARDED = ["source/gradient_checking", "release/gradient_checking"]
TMPMARK = Path("/tmp") / f"gc-attack-mark-{os.getpid()}"


def batch_folder(tmp_path_factory, name: str) -> Path:
    """A folder for one batch: world-readable and outside /tmp when the machine allows, as an
    instructor's submissions folder is (the judge's child gets a private /tmp, so a batch under
    /tmp would hide what a real one shows). GC_ATTACK_DIR names the parent; default /srv."""
    parent = Path(os.environ.get("GC_ATTACK_DIR", "/srv"))
    if parent.is_dir() and os.access(parent, os.W_OK) and parent.stat().st_mode & 0o001:
        folder = Path(tempfile.mkdtemp(prefix=f"gc-{name}-", dir=parent))
        folder.chmod(0o755)
        return folder
    return tmp_path_factory.mktemp(name)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@dataclass
class Batch:
    run: GradingRun
    out: Path
    submissions: Path
    rows: dict  # {student: {exercise: csv row}}
    totals: dict  # {student: grades.csv row}
    before: dict
    after: dict
    breaches: list  # what the batch changed across the sandbox boundary (attack_corpus.boundary_breaches)


def grade_batch(base: Path, rows: list, executor: str = "sandbox") -> Batch:
    """Write the honest neighbours and the attacks of `rows`, grade them as one batch."""
    submissions, out = base / "in", base / "out"
    submissions.mkdir()
    for name in BASES:
        nbformat.write(load_sample(name), submissions / f"{name}.ipynb")
    context = {"ROOT": ROOT, "OUT": out, "SUBMISSIONS": submissions, "TESTPID": os.getpid(),
               "TMPMARK": TMPMARK, "CLASSIC_GRADIENTS": classic_gradients_literal(),
               **plant_targets(base, f"{base.name}-{executor}")}
    for row in rows:
        nbformat.write(build_attack(row, {**context, "STUDENT": row["id"]}), submissions / f"{row['id']}.ipynb")
    hashes = lambda: {**{p: tree_hashes(ROOT / p) for p in GUARDED}, "submissions": tree_hashes(submissions)}
    before, guarded = hashes(), fingerprint(*guarded_paths())
    try:
        run = grade(submissions, "gradient_checking", out, jobs=2, limits=LIMITS, progress=False, executor=executor)
    finally:
        remove_targets(context)
    by_student: dict = {}
    for r in read_csv(run.exercises_csv):
        by_student.setdefault(r["student_id"], {})[r["exercise"]] = r
    totals = {r["student_id"]: r for r in read_csv(run.grades_csv)}
    breaches = boundary_breaches(context, guarded, fingerprint(*guarded_paths()), out)
    return Batch(run, out, submissions, by_student, totals, before, hashes(), breaches)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = batch_folder(tmp_path_factory, "attacks")
    try:
        yield grade_batch(folder, ATTACKS)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def kernel_batch(tmp_path_factory):
    folder = batch_folder(tmp_path_factory, "kernel-attacks")
    try:
        yield grade_batch(folder, KERNEL_ATTACKS, executor="kernel")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def assert_gains_nothing(batch: Batch, row: dict, expected: dict) -> None:
    got = batch.rows[row["id"]]
    assert sorted(got) == sorted(EXERCISES), f"{row['id']}: exercises {sorted(got)}"
    base = batch.rows[row["base"]]
    for exercise in EXERCISES:
        mine, honest = got[exercise], base[exercise]
        full = float(mine["max_score"])
        assert float(mine["score"]) <= float(honest["score"]), (
            f"{row['id']} GAINED on {exercise}: {mine['score']} > {honest['score']} of its honest base "
            f"({mine['status']}: {mine['message']})")
        assert (mine["status"], float(mine["score"])) == (
            expected[exercise], full if expected[exercise] == "passed" else 0.0), (exercise, mine["message"])


def attack_params(rows, xfail_key="xfail"):
    return [pytest.param(row, id=row["id"], marks=[pytest.mark.xfail(
        reason=row[xfail_key], strict=row.get("xfail_strict", True))] if row.get(xfail_key) else [])
        for row in rows]


def test_the_corpus_is_big_enough():
    assert len(TABLE["attack"]) >= 20 and len(KERNEL_ATTACKS) >= 3
    assert len({row["id"] for row in TABLE["attack"]}) == len(TABLE["attack"])
    for row in TABLE["attack"]:
        assert row["base"] in BASES and row.get("what"), row["id"]
        assert set(row.get("expect", {})) <= set(EXERCISES) | {"all"}, row["id"]


@pytest.mark.parametrize("row", attack_params(ATTACKS))
def test_an_attack_gains_nothing(batch, row):
    assert_gains_nothing(batch, row, expected_statuses(row))


@pytest.mark.parametrize("row", [row for row in ATTACKS if "never_echoed" in row], ids=lambda row: row["id"])
def test_a_hidden_verdict_echoes_nothing_the_child_chose(batch, row):
    """Not in its CSV messages, not in the verdicts its test cells carry into its feedback (the rest
    of the page is its own notebook, which holds the text it chose)."""
    echoed = [(e, r["message"]) for e, r in batch.rows[row["id"]].items() if row["never_echoed"] in r["message"]]
    assert not echoed
    nb = nbformat.read(batch.out / "autograded" / row["id"] / "gradient_checking" / "gradient_checking.ipynb",
                       as_version=4)
    verdicts = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")]
    assert verdicts and all(row["never_echoed"] not in str(c.get("outputs", [])) for c in verdicts)


@pytest.mark.parametrize("name", sorted(BASES))
def test_the_honest_neighbours_keep_their_grades(batch, name):
    expected = expected_statuses({"expect": BASES[name]})
    for exercise, r in batch.rows[name].items():
        assert r["status"] == expected[exercise], (exercise, r["message"])
        assert float(r["score"]) == (float(r["max_score"]) if r["status"] == "passed" else 0.0)
    assert batch.totals[name]["score"] == HONEST_TOTALS[name]


def test_forged_points_never_change_the_maximum(batch):
    """Cells with raised or invented points count for what the assignment says: its total in all."""
    assert {r["max_score"] for r in batch.totals.values()} == {MAX_SCORE}
    assert set(batch.totals) == set(BASES) | {row["id"] for row in ATTACKS}


def test_nothing_is_written_outside_the_output_folder(batch):
    assert batch.after == batch.before  # source/ and release/ of the kit, and every submission
    planted = ["attack_course_files_written.py", "leaked_solution.py", "attack_other_students_written.txt"]
    for folder in (ROOT / "source", ROOT / "release", ROOT / "autograder", batch.out, batch.submissions):
        for name in planted:
            assert not list(folder.rglob(name)), f"{name} was written under {folder}"
    assert not TMPMARK.exists(), "the child's private /tmp leaked into the real one"
    for record in (batch.out / "verdicts").glob("*/gradient_checking.json"):
        assert "exercises" in record.read_text() and record.stat().st_size > 200, record


def test_nothing_crosses_the_sandbox_boundary(batch):
    """Canary, kit, course and venv unchanged; no SysV IPC left; nothing in OUT a child's uid owns."""
    assert batch.breaches == []


def test_test_cells_carry_the_judges_verdict_whatever_the_notebook_said(batch):
    for student in ("test_cell_edited", "test_cell_outputs_forged", "public_tests_patched"):
        nb = nbformat.read(batch.out / "autograded" / student / "gradient_checking" / "gradient_checking.ipynb",
                           as_version=4)
        cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_backward_propagation_n"]
        assert len(cells) == 1, student
        assert [o.output_type for o in cells[0].outputs] == ["error"], (student, cells[0].outputs)
        assert "gradient check fails" in cells[0].outputs[0].evalue


def test_a_sleeping_notebook_is_charged_wall_time_and_never_graded_again(batch):
    """It used no CPU: each call is stopped when its step's wall time is used up and the rest when
    the submission's is (budget.py), never as "the machine was busy", and never past the backstop."""
    record = json.loads((batch.out / "verdicts" / "sleeps_through_every_call" / "gradient_checking.json").read_text())
    assert record["wall_bound"] == []
    assert record["judge_seconds"] < backstop_seconds(submission_budget(LIMITS.wall_seconds))
    messages = [r["message"] for r in batch.rows["sleeps_through_every_call"].values()]
    assert all("slept or waited" in m for m in messages), messages


def test_no_control_group_outlives_its_child(batch):
    """Every group the batch made is gone (its processes killed, its memory back): none is left
    whose grading process has ended, in this process's own memory hierarchy."""
    layout = cgroup.find_layout()
    if not isinstance(layout, cgroup.Layout):
        pytest.skip(f"no control groups here: {layout}")
    place = layout.places.get("memory", layout.places.get(""))
    left = [name for name in os.listdir(place) if name.startswith(cgroup.PREFIX)
            and not alive(int(name[len(cgroup.PREFIX):].split("-")[0]))]
    assert left == []


@pytest.mark.parametrize("row", attack_params(KERNEL_ATTACKS, "kernel_xfail"))
def test_an_attack_gains_nothing_with_a_jupyter_kernel(kernel_batch, row):
    expect = row.get("kernel_expect", row.get("expect", {}))
    assert_gains_nothing(kernel_batch, row, expected_statuses({"expect": expect}))


@pytest.mark.parametrize("name", sorted(BASES))
def test_the_honest_neighbours_keep_their_grades_with_a_jupyter_kernel(kernel_batch, name):
    assert kernel_batch.totals[name]["score"] == HONEST_TOTALS[name]


def end_attack_processes(name: str, quiet_seconds: float = 2.0) -> None:
    """Kill, by pid, the processes an attack named `name`, until none has shown up for a while."""
    until = time.monotonic() + quiet_seconds
    while time.monotonic() < until:
        pids = processes_named(name)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if pids:
            until = time.monotonic() + quiet_seconds
        time.sleep(0.1)


# Last in the module: the attack below must not outlive its own test.
@pytest.mark.parametrize("row", attack_params(CONCURRENT))
def test_an_attack_cannot_reach_the_other_students_of_its_batch(tmp_path_factory, row):
    folder = batch_folder(tmp_path_factory, "concurrent")
    try:
        graded = grade_batch(folder, [row])
        survivors = processes_named("gc-attack-dmn")
    finally:
        end_attack_processes("gc-attack-dmn")
        shutil.rmtree(folder, ignore_errors=True)
    for name in BASES:
        expected = expected_statuses({"expect": BASES[name]})
        got = {e: (r["status"], r["message"][:120]) for e, r in graded.rows[name].items() if r["status"] != expected[e]}
        assert not got, f"neighbour {name} was hurt by {row['id']}: {got}"
    assert not survivors, f"a process started by a submission outlived its grading: pids {survivors}"
