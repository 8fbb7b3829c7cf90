"""`autograder grade` end to end on the demo's samples: statuses, CSVs, feedback, repeatability."""
import csv
import re
import shutil

import nbformat
import pytest

from autograder.course import notebook, samples
from autograder.judge.sandbox import Limits
from autograder.pipeline import reports
from autograder.pipeline.grade import grade

from conftest import ROOT

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
    assert '<img alt="No description has been provided for this image" src="data:image/png' in perfect  # the ε plot


def test_gradebook_and_nbgrader_export_carry_the_judges_verdict(graded):
    from autograder.pipeline.gradebook import scores
    from autograder.pipeline.config import sqlite_url
    got = scores(sqlite_url(graded.out / "gradebook.db"), "gradient_checking")
    points = POINTS["test_backward_propagation_n"]
    assert got["bug_backprop_dW2"]["test_backward_propagation_n"] == (0.0, points)
    assert got["perfect"]["test_backward_propagation_n"] == (points, points)
    assert sum(s for s, _ in got["not_json"].values()) == 0


def test_grading_again_gives_the_same_grades_and_resumes(graded, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(graded.out, out)
    first = read_csv(graded.exercises_csv)
    again = grade(SAMPLES, "gradient_checking", out, jobs=2, limits=LIMITS, progress=False)
    assert read_csv(again.exercises_csv) == first
    kept = [s for s, o in again.outcomes.items() if "unchanged" in o.message]
    assert sorted(kept) == sorted(set(RECIPES) - {"not_json"})


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
