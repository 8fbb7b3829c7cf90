"""The instructor's data, as an instructor meets it through the command line (issue 23).

Every CSV the kit writes is derived from the gradebook: a grader's score written through
nbgrader's Gradebook API (as formgrader writes it) reaches scores.csv, grades_by_exercise.csv and
the LMS file after `autograder export`, and the status follows the score. A notebook handed in
again after a manual grade is flagged (summary, CSVs, feedback page) until a grader changes the
score or `grade --clear-manual` clears it; lateness from nbgrader's timestamp.txt shows in the
summary and scores.csv. OUT is guarded before anything is created, and two assignments graded
into one OUT keep each other's rows and folders. Each test works on a copy of the session's
graded samples (tests/conftest.py graded_samples) and grades at most one notebook.
"""
from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from nbgrader.api import Gradebook

from autograder.cli import KIT_COURSE_ENV, main
from autograder.course import manifest
from autograder.grading_output import class_record, guard
from autograder.nbgrader_env import with_python_bin
from autograder.pipeline.gradebook.store import COURSE_ID, sqlite_url

from support import ROOT, SAMPLE_LIMITS
from support.submissions import copy_course

ASSIGNMENT = "gradient_checking"
LAB = "gradient_checking_lab"
SAMPLES = ROOT / "samples" / ASSIGNMENT
BACKPROP = "test_backward_propagation_n"


def cli(*args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`autograder ARGS` (./kit ARGS) as a command run in cwd, the course found from there; fails the
    test with its output unless it succeeds."""
    env = with_python_bin()
    env["PYTHONPATH"] = str(ROOT)  # this checkout's kit, whichever checkout the venv was installed from
    for name in (manifest.COURSE_ENV, KIT_COURSE_ENV):
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=cwd, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, \
        f"autograder {' '.join(map(str, args))}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def grade_args(submissions: Path, out: Path, *more) -> list:
    return ["grade", submissions, "--assignment", ASSIGNMENT, "--out", out, "--jobs", "1",
            "--time-limit", f"{SAMPLE_LIMITS[ASSIGNMENT].wall_seconds:g}", "--memory-mb", SAMPLE_LIMITS[ASSIGNMENT].memory_mb,
            *more]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def by_student(out: Path) -> dict[tuple[str, str], dict]:
    return {(r["student_id"], r["assignment"]): r for r in read_csv(out / "scores.csv")}


def by_exercise(out: Path) -> dict[tuple[str, str, str], dict]:
    return {(r["student_id"], r["assignment"], r["exercise"]): r for r in read_csv(out / "grades_by_exercise.csv")}


def give(out: Path, student: str, exercise: str, score: float | None, comment: str | None = None) -> None:
    """A grader's score (and comment on the exercise's solution cell), saved as formgrader saves it."""
    with Gradebook(sqlite_url(out / "gradebook.db"), COURSE_ID) as gb:
        gb.find_grade(exercise, ASSIGNMENT, ASSIGNMENT, student).manual_score = score
        if comment is not None:
            gb.find_comment(exercise.removeprefix("test_"), ASSIGNMENT, ASSIGNMENT, student).manual_comment = comment
        gb.db.commit()


def files_of(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def out(graded_samples, tmp_path):
    """A copy of the session's graded samples: OUT as `grade` left it."""
    copy = tmp_path / "out"
    shutil.copytree(graded_samples(ASSIGNMENT).out, copy)
    return copy


def test_a_manual_grade_reaches_every_csv_and_the_lms_file_through_export(out):
    before = by_student(out)
    give(out, "bug_backprop_dW2", BACKPROP, 1.5, "Half back: only dW2 is off.")
    give(out, "bug_flatten_order", "test_dictionary_to_vector", 1)  # full marks by hand: passed
    give(out, "perfect", "test_forward_propagation", 0)  # none by hand: failed, with the judge's word beside it
    assert by_student(out) == before  # nothing changes until the instructor exports

    code, output = invoke("export", out, "--lms-export", "moodle")
    assert code == 0 and "(1 graded by hand)" in output and "lms_grades_gradient_checking.csv" in output

    students, exercises = by_student(out), by_exercise(out)
    dw2 = exercises[("bug_backprop_dW2", ASSIGNMENT, BACKPROP)]
    assert (dw2["score"], dw2["status"], dw2["graded_by"], dw2["grader_comment"], dw2["flag"]) == \
        ("1.5", "failed", "grader", "Half back: only dW2 is off.", "")
    assert "dW2: relative difference 0.33" in dw2["message"] and dw2["message"].startswith("scored by a grader")
    flatten = exercises[("bug_flatten_order", ASSIGNMENT, "test_dictionary_to_vector")]
    assert (flatten["score"], flatten["status"], flatten["graded_by"]) == ("1", "passed", "grader")
    perfect = exercises[("perfect", ASSIGNMENT, "test_forward_propagation")]
    assert (perfect["score"], perfect["status"], perfect["graded_by"]) == ("0", "failed", "grader")
    assert "the judge's verdict: passed" in perfect["message"]
    assert sum(r["graded_by"] == "grader" for r in exercises.values()) == 3
    for row in exercises.values():  # the status is a function of the score
        assert (row["status"] == "passed") == (float(row["score"]) >= float(row["max_score"])), row
        assert row["status"] in {"passed", "failed", "error", "timeout", "missing"}
    assert students[("bug_backprop_dW2", ASSIGNMENT)]["score"] == "13.5"
    assert students[("bug_backprop_dW2", ASSIGNMENT)]["graded_by_hand"] == "1"
    assert (students[("perfect", ASSIGNMENT)]["score"], students[("perfect", ASSIGNMENT)]["status"]) == ("14", "failed")
    assert students[("not_json", ASSIGNMENT)]["status"] == "error"  # from the record: the score cannot tell
    assert students[("untouched_release", ASSIGNMENT)]["status"] == "missing"

    lms = {r["ID number"]: r for r in read_csv(out / "lms_grades_gradient_checking.csv")}
    assert (lms["bug_backprop_dW2"]["Grade"], lms["perfect"]["Grade"], lms["bug_flatten_order"]["Grade"]) == \
        ("13.5", "14", students[("bug_flatten_order", ASSIGNMENT)]["score"])

    give(out, "bug_backprop_dW2", BACKPROP, 3)  # a second review; export remembers the LMS asked for
    assert "moodle import" in invoke("export", out)[1]
    assert {r["ID number"]: r for r in read_csv(out / "lms_grades_gradient_checking.csv")}["bug_backprop_dW2"]["Grade"] == "15"


def test_a_notebook_handed_in_again_after_a_manual_grade_is_flagged_until_cleared(out, tmp_path):
    give(out, "bug_backprop_dW2", BACKPROP, 2, "Two of three: dW2 carries a factor 2.")
    handed_in = tmp_path / "resubmitted" / "bug_backprop_dW2" / ASSIGNMENT
    handed_in.mkdir(parents=True)
    shutil.copy(SAMPLES / "perfect.ipynb", handed_in / f"{ASSIGNMENT}.ipynb")  # fixed: the judge gives 3 / 3
    (handed_in / "timestamp.txt").write_text("2026-12-19 01:59:00 UTC", encoding="utf-8")  # 2 h after it was due

    summary = cli(*grade_args(tmp_path / "resubmitted", out)).stdout
    assert "Handed in again after a manual grade (1 exercise;" in summary
    assert "  bug_backprop_dW2: test_backward_propagation_n" in summary
    assert "late by 2 h 0 min" in summary and "handed in again after a manual grade)" in summary
    row = by_exercise(out)[("bug_backprop_dW2", ASSIGNMENT, BACKPROP)]
    assert (row["score"], row["status"], row["graded_by"], row["flag"]) == \
        ("2", "failed", "grader", "resubmitted after a manual grade")
    assert "the judge's verdict on this one: passed" in row["message"]
    student = by_student(out)[("bug_backprop_dW2", ASSIGNMENT)]
    assert (student["seconds_late"], student["flag"]) == ("7200", "resubmitted after a manual grade")
    page = (out / "feedback" / "bug_backprop_dW2" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert "The judge&#39;s verdict on this notebook: passed." in page
    assert "2 / 3 points, was given to the notebook you handed in before this one" in page
    assert "Two of three: dW2 carries a factor 2." in page

    assert invoke("export", out)[0] == 0  # the flag stays while the grader's score is the one given to the earlier notebook
    assert by_exercise(out)[("bug_backprop_dW2", ASSIGNMENT, BACKPROP)]["flag"] == "resubmitted after a manual grade"

    cleared = cli(*grade_args(tmp_path / "resubmitted", out, "--clear-manual")).stdout
    assert "Handed in again" not in cleared
    row = by_exercise(out)[("bug_backprop_dW2", ASSIGNMENT, BACKPROP)]
    assert (row["score"], row["status"], row["graded_by"], row["grader_comment"], row["flag"]) == \
        ("3", "passed", "judge", "", "")
    with Gradebook(sqlite_url(out / "gradebook.db"), COURSE_ID) as gb:
        assert gb.find_grade(BACKPROP, ASSIGNMENT, ASSIGNMENT, "bug_backprop_dW2").manual_score is None
    page = (out / "feedback" / "bug_backprop_dW2" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert "handed in before" not in page and "Score: <strong>15 / 15 points</strong>" in page


def test_two_assignments_graded_into_one_out_keep_each_others_rows_and_folders(out, tmp_path):
    def firsts():
        return {folder: {path: data for path, data in files_of(out / folder).items()
                         if ASSIGNMENT in path.parts or path.name == f"{ASSIGNMENT}.json"}
                for folder in ("submitted", "feedback", "verdicts", "autograded")}
    first = firsts()
    assert all(first.values())
    rows = by_exercise(out)
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "ada.ipynb").write_text('{"cells": [', encoding="utf-8")  # refused at intake: no judging needed
    cli("grade", lab, "--assignment", LAB, "--out", out, "--jobs", "1")
    assert firsts() == first  # the first assignment's, as they were
    after = by_exercise(out)
    assert {k: v for k, v in after.items() if k[1] == ASSIGNMENT} == rows
    assert {k[0] for k in after if k[1] == LAB} == {"ada"}
    assert {(k[0], k[1]) for k in by_student(out)} >= {("perfect", ASSIGNMENT), ("ada", LAB)}
    assert class_record.assignments(out) == [ASSIGNMENT, LAB]
    assert invoke("export", out, "--assignment", ASSIGNMENT)[0] == 0
    assert by_exercise(out) == after


def invoke(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.mark.parametrize("where", ["equal", "inside", "containing", "source", "release"])
def test_out_overlapping_the_submissions_or_the_course_is_refused_before_anything_is_made(tmp_path, where):
    submissions = tmp_path / "class"
    submissions.mkdir()
    shutil.copy(SAMPLES / "perfect.ipynb", submissions)
    out = {"equal": submissions, "inside": submissions / "graded", "containing": tmp_path,
           "source": ROOT / "source" / ASSIGNMENT / "graded", "release": ROOT / "release" / "graded"}[where]
    before = files_of(tmp_path)
    code, output = invoke(*grade_args(submissions, out))
    assert code == 1 and "--out" in output and "pass a separate folder" in output, output
    assert files_of(tmp_path) == before and not (submissions / "graded").exists()
    assert not out.exists() or out in (submissions, tmp_path)


def test_a_foreign_folder_or_an_unreadable_submissions_argument_is_refused_before_out_is_made(tmp_path):
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "chapter1.tex").write_text("\\section{Intro}", encoding="utf-8")
    code, output = invoke(*grade_args(SAMPLES, foreign))
    assert code == 1 and "files that `grade` did not write" in output
    assert files_of(foreign) == {Path("chapter1.tex"): b"\\section{Intro}"}

    notes = tmp_path / "notes.txt"
    notes.write_text("not submissions", encoding="utf-8")
    for submissions in (notes, tmp_path / "no-such-folder"):
        code, output = invoke(*grade_args(submissions, tmp_path / "new-out"))
        assert code == 1 and str(submissions) in output, output
        assert not (tmp_path / "new-out").exists()


def test_a_folder_an_earlier_kit_wrote_is_still_a_kit_output(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(
        "c.GenerateFeedback.exporter_class = 'autograder.pipeline.feedback_exporter.FeedbackExporter'\n")
    assert guard.is_kit_output(tmp_path)
    assert guard.check(tmp_path, {"SUBMISSIONS": SAMPLES}) == tmp_path.resolve()
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    assert not guard.is_kit_output(tmp_path)


def test_the_config_grade_writes_names_the_kits_exporter_so_the_folder_is_no_course(tmp_path):
    """A Dask worker's scratch course has only this config to tell it from a course (no marker)."""
    from autograder.pipeline.feedback.exporter import FeedbackExporter
    from autograder.pipeline.steps.config import FEEDBACK_EXPORTER, write_course_config
    assert FEEDBACK_EXPORTER == f"{FeedbackExporter.__module__}.{FeedbackExporter.__qualname__}"
    write_course_config(tmp_path, sqlite_url(tmp_path / "gradebook.db"))
    assert guard.is_kit_output(tmp_path) and not manifest.is_course(tmp_path)


def test_export_names_what_it_needs(tmp_path, out):
    code, output = invoke("export", tmp_path)
    assert code == 1 and "not a folder `autograder grade` wrote" in output
    code, output = invoke("export", out, "--assignment", LAB)
    assert code == 1 and "holds no grading of 'gradient_checking_lab'" in output


def test_the_course_is_where_the_instructor_stands_and_the_checkout_is_never_written(tmp_path, monkeypatch):
    """One installed kit, a copy of the course: new, release and grade work on the copy (found from the
    current folder or a parent, as nbgrader finds its course); the checkout stays byte for byte."""
    kept = ("assignments", "source", "release", "samples")
    before = {part: files_of(ROOT / part) for part in kept}
    top = sorted(p.name for p in ROOT.iterdir())
    course = copy_course(tmp_path / "copy")
    for name in (manifest.COURSE_ENV, KIT_COURSE_ENV):  # restored afterwards: the command line sets the first
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(course)
    code, output = invoke("new", "toy_check")
    assert code == 0 and "released toy_check -> release/toy_check" in output, output
    monkeypatch.delenv(manifest.COURSE_ENV)
    cli("grade", "../samples/toy_check", "--assignment", "toy_check", "--out", "../graded", "--jobs", "1",
        cwd=course / "source")  # from a folder inside the course: its nearest parent that is one
    scores = {r["student_id"]: r for r in read_csv(course / "graded" / "scores.csv")}
    assert scores["perfect"]["status"] == "passed" and scores["untouched_release"]["status"] == "missing"
    assert (course / "assignments" / "toy_check" / "manifest.toml").is_file()
    assert {part: files_of(ROOT / part) for part in kept} == before
    assert sorted(p.name for p in ROOT.iterdir()) == top

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, output = invoke("release", "toy_check")
    assert code == 1 and "is not in a course" in output and "--course DIR" in output
    code, output = invoke("--course", elsewhere, "release")
    assert code == 2 and "holds no nbgrader_config.py" in output
    assert list(elsewhere.iterdir()) == []


def test_out_is_closed_to_other_users_and_grade_warns_of_what_is_left_open(tmp_path):
    """OUT holds every student's notebook and grades: `grade` makes it 0700 whatever the umask, and
    says so, with the command that closes it, when OUT or source/ (the solutions) is open to every
    user of the machine; group permissions are the course staff's own business."""
    import os
    import stat
    course = copy_course(tmp_path / "course")
    shutil.copytree(ROOT / "release" / ASSIGNMENT, course / "release" / ASSIGNMENT)
    os.chmod(course / "source", 0o755)
    submissions = tmp_path / "class"
    submissions.mkdir()
    shutil.copy(SAMPLES / "perfect.ipynb", submissions)
    out = tmp_path / "graded"
    umask = os.umask(0o022)
    try:
        first = cli(*grade_args(submissions, out), cwd=course)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert f"WARNING: source/ {course / 'source'} holds the assignments' solutions" in first.stdout, first.stdout
    assert f"chmod o-rwx {course / 'source'}" in first.stdout and "WARNING: OUT" not in first.stdout
    if os.geteuid() == 0:  # another user of the machine, trying to read a student's notebook
        peek = subprocess.run([sys.executable, "-c", f"import os; os.setgid(65534); os.setuid(65534); "
                               f"print(os.listdir({str(out / 'submitted')!r}))"], capture_output=True, text=True)
        assert peek.returncode != 0 and "PermissionError" in peek.stderr, peek.stdout

    os.chmod(course / "source", 0o750)
    os.chmod(out, 0o755)
    again = cli(*grade_args(submissions, out), cwd=course)
    assert f"WARNING: OUT {out} holds every student's notebook" in again.stdout and "mode 0755" in again.stdout
    assert "WARNING: source/" not in again.stdout
