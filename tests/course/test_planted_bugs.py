"""Planted bugs cost exactly the exercise they are in, with plain nbgrader too.

The submissions and the grades they must get are a table, assignments/gradient_checking/
planted_bugs.toml. tests/course/test_assignments.py grades every row of every assignment's table
with the hidden checks called directly on the notebook's functions (fast), and the kit's own
grading is tested on every row in tests/feedback/test_feedback.py. Here plain nbgrader grades, in
one course and one autograde run as an instructor would, what its test cells add to that: each
exercise's cell wired to its checks (the first bug row of each exercise) and no correct variant
failed (every row with full marks).
"""
from __future__ import annotations

import pytest

from autograder.course import graders

from support.submissions import build, copy_course, expected_lost, grade_with_nbgrader, planted_rows, write_submissions

ASSIGNMENT = "gradient_checking"
EXERCISES = tuple(graders.checks_for(ASSIGNMENT))
ROWS = planted_rows(ASSIGNMENT)


def under_plain_nbgrader(rows: list[dict]) -> list[dict]:
    """Every correct row and the first bug row of each exercise, in table order."""
    first_of = {}
    for row in rows:
        for function in sorted(expected_lost(row)):
            first_of.setdefault(function, row["id"])
    return [row for row in rows if not expected_lost(row) or row["id"] in first_of.values()]


PLAIN_ROWS = under_plain_nbgrader(ROWS)


def rows_marked(xfail_key: str):
    """The rows as pytest params, with an xfail mark where the table names a known failure."""
    return [pytest.param(row, id=row["id"], marks=pytest.mark.xfail(reason=row[xfail_key]) if xfail_key in row else ())
            for row in PLAIN_ROWS]


def up_to_the_last_test_cell(nb):
    """The notebook without the cells after its last graded test cell (the epsilon plot, the text).

    nbgrader scores only test cells and runs the cells in order, so no cell after the last of them
    can change a score; the epsilon plot alone is a quarter of each notebook's run."""
    last = max(i for i, cell in enumerate(nb.cells) if cell.metadata.get("nbgrader", {}).get("grade"))
    nb.cells = nb.cells[:last + 1]
    return nb


@pytest.fixture(scope="module")
def nbgrader_grades(tmp_path_factory):
    """Each of PLAIN_ROWS as a student of one temporary course, autograded by plain nbgrader in one run."""
    course = copy_course(tmp_path_factory.mktemp("course"), ASSIGNMENT)
    write_submissions(course, {row["id"]: up_to_the_last_test_cell(build(row, ASSIGNMENT)) for row in PLAIN_ROWS},
                      ASSIGNMENT)
    return grade_with_nbgrader(course, ASSIGNMENT)


@pytest.mark.parametrize("row", rows_marked("xfail_nbgrader"))
def test_nbgrader_takes_points_only_from_the_buggy_exercise(row, nbgrader_grades):
    grades = nbgrader_grades[row["id"]]
    lost = expected_lost(row)
    expected = {f"test_{f}": 0.0 if f in lost else grades[f"test_{f}"][1] for f in EXERCISES}
    assert {name: score for name, (score, _) in grades.items()} == expected, row["why"]


def test_plain_nbgrader_grades_a_bug_in_every_exercise_and_every_correct_variant():
    assert set().union(*(expected_lost(row) for row in PLAIN_ROWS)) == set(EXERCISES)
    assert [row for row in ROWS if not expected_lost(row)] == [row for row in PLAIN_ROWS if not expected_lost(row)]


def test_table_plants_a_bug_in_every_exercise():
    lost = [expected_lost(row) for row in ROWS]
    assert set().union(*lost) == set(EXERCISES), "every exercise needs at least one planted bug"
    assert sum(not l for l in lost) >= 3, "at least three correct implementations that differ"
    for row in ROWS:
        build(row, ASSIGNMENT)  # every edit applies (plant raises when `old` is not found exactly once)
