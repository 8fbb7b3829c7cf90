"""Autograde saves, and feedback pages take, a submission's grades and comments with one read of
the gradebook: exactly the rows nbgrader's SaveAutoGrades leaves and what its GetGrades puts into
each cell, a grader's manual score and comment included."""
import copy
import shutil

import nbformat
from nbgrader.api import Gradebook
from nbgrader.preprocessors import GetGrades, SaveAutoGrades
from sqlalchemy import event
from sqlalchemy.engine import Engine

from autograder.pipeline.gradebook.store import COURSE_ID, sqlite_url
from autograder.pipeline.steps.grades_at_once import GetGradesAtOnce, SaveAutoGradesAtOnce

ASSIGNMENT = "gradient_checking"


def _run(step, nb, db_url, student):
    resources = {"nbgrader": {"notebook": ASSIGNMENT, "assignment": ASSIGNMENT, "student": student,
                              "db_url": db_url}}
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(Engine, "before_cursor_execute", listener)  # every engine: nbgrader opens its own
    try:
        out, resources = step.preprocess(copy.deepcopy(nb), resources)
    finally:
        event.remove(Engine, "before_cursor_execute", listener)
    cells = [c.metadata.get("nbgrader", {}) for c in out.cells]
    return cells, resources["nbgrader"], len(statements)


def _gradebook(graded, folder, student, hand: bool):
    """A copy of the graded class's gradebook; with `hand`, a grader has scored and commented."""
    folder.mkdir()
    db = folder / "gradebook.db"
    shutil.copyfile(graded.out / "gradebook.db", db)
    db_url = sqlite_url(db)
    if hand:
        with Gradebook(db_url, COURSE_ID) as gb:
            submission = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            submission.grades[0].manual_score = 0.5
            submission.comments[0].manual_comment = "see the sign of dW2"
            gb.db.commit()
    return db_url


def _rows(db_url, student):
    with Gradebook(db_url, COURSE_ID) as gb:
        submission = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        return (sorted((g.name, g.auto_score, g.manual_score, g.needs_manual_grade) for g in submission.grades),
                sorted((c.name, c.auto_comment, c.manual_comment) for c in submission.comments))


def test_autograde_saves_nbgraders_rows_from_one_read(graded_samples, tmp_path):
    graded = graded_samples(ASSIGNMENT)
    student = "bug_backprop_dW2"
    nb = nbformat.read(graded.out / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for hand in (False, True):
        theirs_url = _gradebook(graded, tmp_path / f"theirs{hand}", student, hand)
        ours_url = _gradebook(graded, tmp_path / f"ours{hand}", student, hand)
        with Gradebook(theirs_url, COURSE_ID) as gb:  # rows to be written again, as a rerun finds them
            for grade in gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student).grades:
                grade.auto_score = None
            gb.db.commit()
        with Gradebook(ours_url, COURSE_ID) as gb:
            for grade in gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student).grades:
                grade.auto_score = None
            gb.db.commit()
        _, _, theirs_count = _run(SaveAutoGrades(), nb, theirs_url, student)
        _, _, ours_count = _run(SaveAutoGradesAtOnce(), nb, ours_url, student)
        assert _rows(ours_url, student) == _rows(theirs_url, student)
        grades, comments = _rows(ours_url, student)
        assert all(score is not None for _, score, _, _ in grades)
        assert any(needs for _, _, manual, needs in grades if manual is not None) is hand
        cells = sum(1 for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
                    or c.metadata.get("nbgrader", {}).get("solution"))
        assert theirs_count - ours_count >= cells - 3, (ours_count, theirs_count, cells)  # a query a cell, or two


def test_a_page_gets_nbgraders_grades_and_comments_from_one_read(graded_samples, tmp_path):
    graded = graded_samples(ASSIGNMENT)
    student = "bug_backprop_dW2"
    db_url = _gradebook(graded, tmp_path / "book", student, hand=True)
    nb = nbformat.read(graded.out / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    theirs = _run(GetGrades(), nb, db_url, student)
    ours = _run(GetGradesAtOnce(), nb, db_url, student)
    assert ours[:2] == theirs[:2]
    assert any(c.get("score") == 0.5 for c in ours[0]) and any(c.get("comment") == "see the sign of dW2" for c in ours[0])
    cells = sum(1 for c in theirs[0] if c.get("grade") or c.get("solution"))  # a query each for nbgrader
    assert theirs[2] - ours[2] >= cells - 3, (ours[2], theirs[2], cells)  # two (and the notebook) for all
