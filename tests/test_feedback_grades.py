"""Feedback pages take a submission's grades and comments from one read of the gradebook, with
exactly what nbgrader's GetGrades puts into each cell, a grader's manual score and comment too."""
import copy
import shutil

import nbformat
from nbgrader.api import Gradebook
from nbgrader.preprocessors import GetGrades
from sqlalchemy import event
from sqlalchemy.engine import Engine

from autograder.pipeline.config import COURSE_ID, sqlite_url
from autograder.pipeline.feedback_grades import GetGradesAtOnce

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


def test_a_page_gets_nbgraders_grades_and_comments_from_one_read(graded_samples, tmp_path):
    graded = graded_samples(ASSIGNMENT)
    db = tmp_path / "gradebook.db"
    shutil.copyfile(graded.out / "gradebook.db", db)
    db_url = sqlite_url(db)
    student = "bug_backprop_dW2"
    nb = nbformat.read(graded.out / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    with Gradebook(db_url, COURSE_ID) as gb:  # a grader's hand on one grade and one comment
        submission = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        submission.grades[0].manual_score = 0.5
        submission.comments[0].manual_comment = "see the sign of dW2"
        gb.db.commit()
    theirs = _run(GetGrades(), nb, db_url, student)
    ours = _run(GetGradesAtOnce(), nb, db_url, student)
    assert ours[:2] == theirs[:2]
    assert any(c.get("score") == 0.5 for c in ours[0]) and any(c.get("comment") == "see the sign of dW2" for c in ours[0])
    cells = sum(1 for c in theirs[0] if c.get("grade") or c.get("solution"))  # a query each for nbgrader
    assert theirs[2] - ours[2] >= cells - 3, (ours[2], theirs[2], cells)  # two (and the notebook) for all
