"""Nothing lost to a fault: the broken submissions of tests/data/faults.toml, graded as one batch.

Every fault (a file that is not a notebook, a folder without one, a notebook that loops, eats
memory, forks, floods its output or crashes, an id that is not a safe name, ...) is one student of
a single batch with two honest neighbours (`perfect`, `bug_backprop_dW2`). Each fault must get its
own status with a message that names the file or says what to do; the neighbours keep their
grades; the batch finishes. Two faults need a run of their own: a zip whose members would land
outside its folder, and a batch killed halfway through and run again.
"""
import csv
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.judge.sandbox import Limits
from autograder.pipeline.grade import GradingRun, grade
from autograder.pipeline.intake import IntakeError

from attack_corpus import (EXERCISES, HONEST_TOTALS, ROOT, SAMPLES, alive, descendants, expected_statuses, load_table,
                           write_fault)

TABLE = load_table("faults.toml")
FAULTS = TABLE["fault"]
NEIGHBOURS = TABLE["neighbours"]
LIMITS = Limits(wall_seconds=20)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def student_of(row: dict) -> str:
    return row.get("student", row["id"])


@dataclass
class Batch:
    run: GradingRun
    out: Path
    rows: dict  # {student: {exercise: csv row}}
    totals: dict  # {student: grades.csv row}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    submissions, out = base / "in", base / "out"
    submissions.mkdir()
    for name in NEIGHBOURS:
        shutil.copy(SAMPLES / f"{name}.ipynb", submissions / f"{name}.ipynb")
    context = {"ROOT": ROOT, "OUT": out, "SUBMISSIONS": submissions, "TESTPID": os.getpid()}
    for row in FAULTS:
        write_fault(row, submissions, {**context, "STUDENT": student_of(row)})
    run = grade(submissions, "gradient_checking", out, jobs=2, limits=LIMITS, progress=False)
    by_student: dict = {}
    for r in read_csv(run.exercises_csv):
        by_student.setdefault(r["student_id"], {})[r["exercise"]] = r
    yield Batch(run, out, by_student, {r["student_id"]: r for r in read_csv(run.grades_csv)})
    (submissions / "huge_notebook.ipynb").unlink(missing_ok=True)  # 100 MB: not kept for the session


def fault_params():
    return [pytest.param(row, id=row["id"], marks=[pytest.mark.xfail(reason=row["xfail"], strict=True)]
                         if row.get("xfail") else []) for row in FAULTS]


def test_the_corpus_is_big_enough():
    assert len(FAULTS) >= 15
    assert len({student_of(row) for row in FAULTS}) == len(FAULTS)
    for row in FAULTS:
        assert row.get("what") and set(row.get("expect", {})) <= set(EXERCISES) | {"all"}, row["id"]


@pytest.mark.parametrize("row", fault_params())
def test_a_fault_gets_its_own_status_and_a_clear_message(batch, row):
    student = student_of(row)
    assert student in batch.rows, f"{student!r} has no row in grades_by_exercise.csv"
    got = batch.rows[student]
    assert sorted(got) == sorted(EXERCISES)
    expected = expected_statuses(row)
    for exercise, r in got.items():
        full = float(r["max_score"])
        assert (r["status"], float(r["score"])) == (
            expected[exercise], full if expected[exercise] == "passed" else 0.0), (exercise, r["message"])
        if r["status"] != "passed":
            for text in row.get("message", []):
                assert text in r["message"], (exercise, text, r["message"])
            assert r["message"] and "Traceback" not in r["message"], (exercise, r["message"])
    if "note" in row:
        assert row["note"] in batch.run.notes.get(student, ""), batch.run.notes.get(student)


@pytest.mark.parametrize("name", sorted(NEIGHBOURS))
def test_the_honest_neighbours_keep_their_grades(batch, name):
    expected = expected_statuses({"expect": NEIGHBOURS[name]})
    for exercise, r in batch.rows[name].items():
        assert r["status"] == expected[exercise], (exercise, r["message"])
    assert batch.totals[name]["score"] == HONEST_TOTALS[name]


def test_every_submission_is_in_the_grades_and_nothing_else(batch):
    reported = {student_of(row) for row in FAULTS if not row.get("xfail")} | set(NEIGHBOURS)
    assert reported <= set(batch.totals)
    assert set(batch.totals) <= reported | {student_of(row) for row in FAULTS}


def test_a_flood_of_output_is_capped_in_the_feedback(batch):
    html = batch.out / "feedback" / "output_flood" / "gradient_checking" / "gradient_checking.html"
    assert html.is_file() and html.stat().st_size < 5 * 2**20
    assert "more characters not shown" in html.read_text(encoding="utf-8")


# -- a zip whose members would be written outside its folder ---------------------------------

@pytest.fixture(scope="module")
def zip_batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("zip")
    mark = f"gc-escape-{os.getpid()}"
    archive = base / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in NEIGHBOURS:
            zf.write(SAMPLES / f"{name}.ipynb", f"submissions/{name}.ipynb")
        for member in (f"../{mark}-1.ipynb", f"submissions/../../{mark}-2.ipynb", f"/tmp/{mark}-3.ipynb",
                       f"submissions\\..\\..\\{mark}-4.ipynb"):
            zf.writestr(member, (SAMPLES / "perfect.ipynb").read_bytes())
    try:
        outcome = grade(archive, "gradient_checking", base / "out", jobs=2, limits=LIMITS, progress=False)
    except IntakeError as exc:
        outcome = exc
    return base, mark, outcome


def test_a_zip_member_that_escapes_its_folder_is_never_written(zip_batch):
    base, mark, _ = zip_batch
    for folder in (base, base.parent, Path("/tmp"), Path.cwd(), ROOT):
        assert not list(folder.glob(f"{mark}*")), f"a zip member escaped into {folder}"


def test_a_zip_member_that_escapes_its_folder_costs_only_itself(zip_batch):
    _, mark, outcome = zip_batch
    assert not isinstance(outcome, IntakeError), f"one escaping member stopped the whole zip: {outcome}"
    totals = {r["student_id"]: r for r in read_csv(outcome.grades_csv)}
    assert {name: totals[name]["score"] for name in HONEST_TOTALS} == HONEST_TOTALS
    assert any(mark in r.message for r in outcome.rows if r.status == "error"), "the escaping members go unreported"


# -- a batch killed halfway, then run again --------------------------------------------------

RESUME_CLASS = {"alice": "perfect", "bob": "bug_backprop_dW2", "carol": "bug_flatten_order",
                "dave": "perfect", "erin": "bug_one_sided_check", "frank": "bug_backprop_dW2"}


def grade_command(submissions: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out), "--jobs", "2",
            "--time-limit", str(LIMITS.wall_seconds)]


def graded_students(out: Path) -> set[str]:
    """Students whose worker finished (feedback is its last step)."""
    return {p.parent.name for p in (out / "feedback").glob("*/gradient_checking") if any(p.iterdir())}


@pytest.fixture(scope="module")
def killed_and_rerun(tmp_path_factory):
    base = tmp_path_factory.mktemp("resume")
    submissions = base / "in"
    submissions.mkdir()
    for student, sample in RESUME_CLASS.items():
        shutil.copy(SAMPLES / f"{sample}.ipynb", submissions / f"{student}.ipynb")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    whole = subprocess.run(grade_command(submissions, base / "whole"), capture_output=True, text=True, env=env,
                           cwd=ROOT, timeout=600)
    assert whole.returncode == 0, whole.stderr[-2000:]

    out = base / "resumed"
    proc = subprocess.Popen(grade_command(submissions, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 300
    while len(graded_students(out)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the batch finished before it could be killed"
    below = descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)  # the batch dies as a terminal or a machine would kill it
    proc.wait()
    graded = graded_students(out)
    stamps = {s: (out / "verdicts" / s / "gradient_checking.json").stat().st_mtime_ns for s in graded}
    # Its workers run in sessions of their own: let what is left of the batch end (at most a
    # student each), then end any straggler by its pid, so the rerun starts on a still folder.
    deadline = time.monotonic() + 120
    while any(alive(pid) for pid in below) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in below:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    rerun = subprocess.run(grade_command(submissions, out), capture_output=True, text=True, env=env, cwd=ROOT,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    regraded = {s for s in graded
                if (out / "verdicts" / s / "gradient_checking.json").stat().st_mtime_ns != stamps[s]}
    return base / "whole", out, graded, regraded


def without_timing(rows):
    return sorted((r["student_id"], r["exercise"], r["score"], r["max_score"], r["status"], r["message"])
                  for r in rows)


def test_a_batch_killed_halfway_and_run_again_loses_nothing(killed_and_rerun):
    whole, resumed, graded, _ = killed_and_rerun
    assert 2 <= len(graded) < len(RESUME_CLASS)
    assert without_timing(read_csv(resumed / "grades_by_exercise.csv")) == \
        without_timing(read_csv(whole / "grades_by_exercise.csv"))
    assert read_csv(resumed / "grades.csv") == read_csv(whole / "grades.csv")


def test_a_batch_killed_halfway_keeps_what_it_had_graded(killed_and_rerun):
    _, _, graded, regraded = killed_and_rerun
    assert not regraded, f"graded again after the restart: {sorted(regraded)}"
