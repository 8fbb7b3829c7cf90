"""`autograder grade` end to end on the demo's samples: statuses, CSVs, feedback, repeatability."""
import csv
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.course import notebook, samples
from autograder.judge.sandbox import Limits
from autograder.grading_output import reports
from autograder.pipeline.run.grade import grade

from support import ROOT, SAMPLE_LIMITS

ASSIGNMENT = "gradient_checking"
SAMPLES = ROOT / "samples" / ASSIGNMENT
RECIPES = {s.name: s for s in samples.recipes(ASSIGNMENT, ROOT)}
POINTS = notebook.points(ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
TOTAL = sum(POINTS.values())
EXERCISES = list(POINTS)
LIMITS = Limits(wall_seconds=20, memory_mb=1024)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def graded(graded_samples):
    return graded_samples(ASSIGNMENT)


def expected_status(student, exercise):
    return RECIPES[student].status(exercise)


@pytest.mark.parametrize("student", sorted(RECIPES))
def test_every_sample_gets_exactly_its_expected_statuses(graded, student):
    rows = {r["exercise"]: r for r in read_csv(graded.exercises_csv) if r["student_id"] == student}
    assert sorted(rows) == sorted(EXERCISES)
    for exercise, row in rows.items():
        assert row["status"] == expected_status(student, exercise), (exercise, row["message"])
        full = float(row["max_score"])
        assert float(row["score"]) == (full if row["status"] == "passed" else 0.0), (exercise, row)


def test_csv_schemas(graded):
    with open(graded.grades_csv, encoding="utf-8") as f:
        assert f.readline().strip().split(",") == reports.GRADES_COLUMNS
    with open(graded.exercises_csv, encoding="utf-8") as f:
        header = f.readline().strip().split(",")
    assert header[:7] == ["student_id", "assignment", "exercise", "score", "max_score", "status", "message"]
    grades = {r["student_id"]: r for r in read_csv(graded.grades_csv)}
    assert set(grades) == set(RECIPES)
    assert float(grades["perfect"]["score"]) == TOTAL and grades["perfect"]["status"] == "passed"
    assert float(grades["bug_backprop_dW2"]["score"]) == TOTAL - POINTS["test_backward_propagation_n"]
    assert grades["bug_backprop_dW2"]["status"] == "failed"
    assert grades["untouched_release"]["status"] == "missing"
    for r in read_csv(graded.grades_csv):
        assert r["status"] in {"passed", "failed", "error", "timeout", "missing"}


def test_failure_messages_name_the_file_or_the_block(graded):
    rows = {(r["student_id"], r["exercise"]): r["message"] for r in read_csv(graded.exercises_csv)}
    assert "not_json.ipynb is not valid JSON" in rows[("not_json", "test_forward_propagation")]
    dw2 = rows[("bug_backprop_dW2", "test_backward_propagation_n")]
    assert re.search(r"dW2: relative difference 0\.33", dw2) and "dW1, db1, db2, dW3, db3 agree" in dw2
    assert "one-sided" in rows[("bug_one_sided_check", "test_gradient_check_n")]
    assert "column by column" in rows[("bug_flatten_order", "test_dictionary_to_vector")]


def test_feedback_carries_the_judges_message_and_no_hidden_test(graded):
    feedback = graded.out / "feedback" / "bug_backprop_dW2" / "gradient_checking" / "gradient_checking.html"
    html = feedback.read_text(encoding="utf-8")
    assert "dW2: relative difference 0.33" in html
    assert "hidden_check" not in html and "HIDDEN TESTS" not in html
    for student in set(RECIPES) - {"not_json"}:
        assert (graded.out / "feedback" / student / "gradient_checking" / "gradient_checking.html").is_file()
    perfect = (graded.out / "feedback" / "perfect" / "gradient_checking" / "gradient_checking.html").read_text()
    assert perfect.count('<img alt="No description has been provided for this image" src="data:image/png') == 2  # the cube, the ε plot


def test_gradebook_and_nbgrader_export_carry_the_judges_verdict(graded):
    from autograder.pipeline.gradebook.store import scores
    from autograder.pipeline.gradebook.store import sqlite_url
    got = scores(sqlite_url(graded.out / "gradebook.db"), "gradient_checking")
    points = POINTS["test_backward_propagation_n"]
    assert got["bug_backprop_dW2"]["test_backward_propagation_n"] == (0.0, points)
    assert got["perfect"]["test_backward_propagation_n"] == (points, points)
    assert sum(s for s, _ in got["not_json"].values()) == 0


def test_scores_read_back_what_nbgraders_own_objects_say_a_manual_grade_included(graded, tmp_path):
    """The one-query read-back equals walking nbgrader's ORM, after a grader's manual score and
    extra credit (nbgrader's rule: a manual score replaces the judge's, extra credit adds)."""
    from nbgrader.api import Gradebook
    from autograder.pipeline.gradebook.store import COURSE_ID, sqlite_url
    from autograder.pipeline.gradebook.store import scores
    shutil.copy(graded.out / "gradebook.db", tmp_path / "gradebook.db")
    url = sqlite_url(tmp_path / "gradebook.db")
    with Gradebook(url, COURSE_ID) as gb:
        grade = gb.find_grade("test_backward_propagation_n", "gradient_checking", "gradient_checking", "bug_backprop_dW2")
        grade.manual_score, grade.extra_credit = 1.5, 0.25
        gb.db.commit()
        walked = {sub.student.id: {g.name: (float(g.score or 0.0), float(g.max_score))
                                   for nb in sub.notebooks for g in nb.grades}
                  for sub in gb.find_assignment("gradient_checking").submissions}
    got = scores(url, "gradient_checking")
    assert got == walked
    assert got["bug_backprop_dW2"]["test_backward_propagation_n"][0] == 1.75
    assert scores(url, "no_such_assignment") == {}


def test_grading_again_gives_the_same_grades_and_resumes(graded, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(graded.out, out)
    first = read_csv(graded.exercises_csv)
    again = grade(SAMPLES, "gradient_checking", out, jobs=2, limits=SAMPLE_LIMITS["gradient_checking"], progress=False)
    assert read_csv(again.exercises_csv) == first
    timed_out = {s for s in RECIPES if "timeout" in {expected_status(s, e) for e in EXERCISES}}
    assert timed_out, "the samples should include a timeout"
    assert sorted(again.kept) == sorted(set(RECIPES) - {"not_json"} - timed_out)  # a timeout is never kept
    assert sorted(again.graded) == sorted(timed_out)


def test_a_judge_verdict_overrides_a_tampered_test_cell(tmp_path):
    """Student code that disables the in-kernel hidden test cannot pass a wrong backward pass."""
    nb = nbformat.read(SAMPLES / "bug_backprop_dW2.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "backward_propagation_n":
            cell.source += ("\nimport autograder.grading.hidden, public_tests\n"
                            "autograder.grading.hidden.hidden_check = lambda *a, **k: print('Hidden tests passed')\n"
                            "public_tests.test_backward_propagation_n = lambda *a, **k: None\n")
    submissions = tmp_path / "in"
    submissions.mkdir()
    nbformat.write(nb, submissions / "mallory.ipynb")
    run = grade(submissions, "gradient_checking", tmp_path / "out", jobs=1, limits=LIMITS, progress=False)
    row = next(r for r in run.rows if r.exercise == "test_backward_propagation_n")
    assert (row.status, row.score) == ("failed", 0.0)
    autograded = nbformat.read(tmp_path / "out" / "autograded" / "mallory" / "gradient_checking" /
                               "gradient_checking.ipynb", as_version=4)
    cell = next(c for c in autograded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_backward_propagation_n")
    assert [o.output_type for o in cell.outputs] == ["error"]


def test_the_kernel_executor_grades_the_same_and_survives_a_dying_kernel(tmp_path):
    from nbformat.v4 import new_code_cell
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("perfect", "bug_backprop_dW2"):
        shutil.copy(SAMPLES / f"{name}.ipynb", folder)
    killer = nbformat.read(SAMPLES / "perfect.ipynb", as_version=4)
    killer.cells.insert(5, new_code_cell("import os\nos._exit(0)"))
    nbformat.write(killer, folder / "kernel_killer.ipynb")
    run = grade(folder, "gradient_checking", tmp_path / "out", jobs=2, limits=LIMITS, progress=False,
                executor="kernel")
    totals = {s: sum(r.score for r in run.rows if r.student_id == s) for s in ("perfect", "bug_backprop_dW2", "kernel_killer")}
    lost = POINTS["test_backward_propagation_n"]
    assert totals == {"perfect": TOTAL, "bug_backprop_dW2": TOTAL - lost, "kernel_killer": TOTAL}
    assert "kernel died" in run.notes["kernel_killer"]


# -- resume is honest (issue 10, item 7) -------------------------------------------------------

def copy_course(root: Path, to: Path) -> Path:
    for part in ("assignments", "source/gradient_checking", "release/gradient_checking"):
        shutil.copytree(root / part, to / part, ignore=shutil.ignore_patterns("__pycache__"))
    return to


def test_the_resume_key_covers_limits_executor_manifest_and_release(tmp_path):
    from autograder.course.fingerprint import kit_version
    from autograder.pipeline.run.resume import resume_key
    course = copy_course(ROOT, tmp_path / "course")
    manifest = course / "assignments" / "gradient_checking" / "manifest.toml"

    def key(limits=LIMITS, executor="sandbox"):
        return resume_key(course, "gradient_checking", manifest, limits, executor)

    first = key()
    assert key() == first
    assert key(Limits(wall_seconds=21, memory_mb=1024)) != first
    assert key(Limits(wall_seconds=20, memory_mb=2048)) != first
    assert key(executor="kernel") != first
    manifest.write_text(manifest.read_text() + "\n# a comment is a change too\n")
    assert key() != first
    second = key()
    helper = course / "release" / "gradient_checking" / "gc_utils.py"
    helper.write_text(helper.read_text() + "\n")
    assert key() != second
    assert kit_version().startswith(metadata_version() + "+")


def metadata_version():
    from importlib import metadata
    return metadata.version("gradcheck-autograder")


def test_a_verdict_the_environment_may_have_caused_is_never_kept(tmp_path):
    import json
    from autograder.pipeline.run.resume import previous_verdict
    record = tmp_path / "verdicts" / "alice" / "gradient_checking.json"
    record.parent.mkdir(parents=True)
    feedback = tmp_path / "feedback" / "alice" / "gradient_checking" / "gradient_checking.html"
    feedback.parent.mkdir(parents=True)
    feedback.write_text("<html></html>")
    passed = {"exercise": "test_forward_propagation", "status": "passed", "message": "ok"}

    def kept(**changes):
        data = {"submission_sha256": "abc", "resume_key": "k1", "complete": True, "exercises": [passed],
                "skipped_cells": {}, **changes}
        record.write_text(json.dumps(data))
        return previous_verdict(tmp_path, "gradient_checking", "gradient_checking", "alice", "abc", "k1") is not None

    assert kept()
    assert not kept(resume_key="k0")  # other limits, manifest, release or kit
    assert not kept(submission_sha256="abd")
    assert not kept(complete=False)  # killed before its grades and feedback were saved
    assert not kept(exercises=[passed, {"exercise": "test_x", "status": "timeout", "message": "time limit"}])
    assert not kept(exercises=[{"exercise": "test_x", "status": "error",
                                "message": "f could not be judged: it was killed (time or memory limit)"}])
    assert not kept(skipped_cells={"3": "it did not finish within the time limit"})


def test_a_rerun_under_other_limits_or_with_regrade_grades_again(graded, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(graded.out, out)
    submissions = tmp_path / "in"
    submissions.mkdir()
    for name in ("perfect", "bug_backprop_dW2"):
        shutil.copy(SAMPLES / f"{name}.ipynb", submissions)
    same = grade(submissions, "gradient_checking", out, jobs=2, limits=SAMPLE_LIMITS["gradient_checking"],
                 progress=False)
    assert sorted(same.kept) == ["bug_backprop_dW2", "perfect"] and same.graded == []
    assert same.counts() == "2 unchanged since the last run, kept; 0 graded"
    longer = grade(submissions, "gradient_checking", out, jobs=2, limits=Limits(wall_seconds=21, memory_mb=1024),
                   progress=False)
    assert longer.kept == [] and sorted(longer.graded) == ["bug_backprop_dW2", "perfect"]
    forced = grade(submissions, "gradient_checking", out, jobs=2, limits=Limits(wall_seconds=21, memory_mb=1024),
                   progress=False, regrade=True)
    assert forced.kept == [] and sorted(forced.graded) == ["bug_backprop_dW2", "perfect"]
    assert {r["student_id"]: r["score"] for r in read_csv(forced.grades_csv)} == {"perfect": f"{TOTAL:g}",
                                                                                 "bug_backprop_dW2": f"{TOTAL - POINTS['test_backward_propagation_n']:g}"}


# -- the instructor's commands beside nbgrader's (issue 13) -------------------------------------

def test_nbgrader_export_runs_in_out_through_the_kit_and_keeps_the_kits_csv(graded):
    import subprocess
    before = graded.grades_csv.read_bytes()
    proc = subprocess.run([str(ROOT / "kit"), "nbgrader", "export"], cwd=graded.out, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    exported = read_csv(graded.out / "grades.csv")
    assert {"student_id", "raw_score", "max_score"} <= set(exported[0])
    assert {r["student_id"]: float(r["raw_score"]) for r in exported}["bug_backprop_dW2"] == \
        TOTAL - POINTS["test_backward_propagation_n"]
    assert graded.grades_csv.read_bytes() == before  # scores.csv beside it, untouched


def test_help_lists_every_entry_point_and_says_the_kit_wraps_it():
    from click.testing import CliRunner
    from autograder.cli import main
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("release", "grade", "demo", "test", "nbgrader", "sandbox", "gradescope"):
        assert re.search(rf"^\s+{command}\s", result.output, re.MULTILINE), command
    assert "./kit script" in result.output and "./kit test" in result.output


def test_the_cli_never_echoes_a_control_character(tmp_path):
    from click.testing import CliRunner
    from autograder.cli import main
    submissions = tmp_path / "in"
    submissions.mkdir()
    shutil.copy(SAMPLES / "perfect.ipynb", submissions / "esc\x1b]0;owned\x07\x1b[2J.ipynb")
    (submissions / "bad\x1b[31m").mkdir()
    (submissions / "bad\x1b[31m" / "x\x1b[5m.ipynb").write_bytes(b"{not json")
    result = CliRunner().invoke(main, ["grade", str(submissions), "--out", str(tmp_path / "out"), "--jobs", "1",
                                       "--time-limit", "20"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output  # stdout and stderr both
    assert "esc\\x1b]0;owned" in result.output and "0 graded; 2 refused at intake" in result.output


def test_a_worker_that_fails_is_replaced_and_the_next_student_keeps_full_marks(graded, tmp_path):
    """nbgrader fails on the first student (no such submission): the next one gets a fresh worker."""
    from autograder.pipeline.gradebook.store import sqlite_url
    from autograder.pipeline.workers.messages import Task, WorkerSettings
    from autograder.pipeline.workers.pool import LocalPool
    out = tmp_path / "course"
    shutil.copytree(graded.out, out)
    pool = LocalPool(WorkerSettings(out, "gradient_checking", sqlite_url(out / "gradebook.db"), LIMITS), 1,
                     prestart=False)
    outcomes = pool.grade_all([Task("ghost"), Task("perfect")])
    assert not outcomes["ghost"].ok and outcomes["ghost"].status == "error"
    assert outcomes["perfect"].ok, outcomes["perfect"].message
    assert outcomes["ghost"].answer.worker_pid != outcomes["perfect"].answer.worker_pid
    verdicts = json.loads((out / "verdicts" / "perfect" / "gradient_checking.json").read_text())
    assert {e["status"] for e in verdicts["exercises"]} == {"passed"}
