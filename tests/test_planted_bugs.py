"""Planted bugs cost exactly the exercise they are in; correct code written differently costs nothing.

The submissions and the grades they must get are a table, tests/data/planted_bugs.toml. Each row
is graded twice: by plain nbgrader, as an instructor would (the whole table in one course, one
autograde run), and by the hidden checks called directly on the notebook's functions (fast).
"""
from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

from autograder.checks import run_check
from autograder.dependencies import resolve
from autograder.hidden import tolerances_for
from autograder.registry import checks_for
from autograder.subject import InProcessSubject

from conftest import SOURCE
from submissions import (copy_course, grade_with_nbgrader, load_source, plant, replace_solution,
                         write_submissions)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ASSIGNMENT = "gradient_checking"
EXERCISES = tuple(checks_for(ASSIGNMENT))
ROWS = tomllib.loads((Path(__file__).parent / "data" / "planted_bugs.toml").read_text(encoding="utf-8"))["submission"]


def expected_lost(row: dict) -> set:
    lost = row["expect_lost"]
    return {lost} if isinstance(lost, str) else set(lost)


def build(row: dict):
    """The instructor notebook with the row's edits applied."""
    nb = load_source(ASSIGNMENT)
    edits = row.get("edit", []) + ([row] if "function" in row else [])
    for edit in edits:
        if "source" in edit:
            nb = replace_solution(nb, edit["function"], edit["source"])
        else:
            nb = plant(nb, edit["function"], edit["old"], edit["new"])
    return nb


def rows_marked(xfail_key: str):
    """The rows as pytest params, with an xfail mark where the table names a known failure."""
    return [pytest.param(row, id=row["id"], marks=pytest.mark.xfail(reason=row[xfail_key]) if xfail_key in row else ())
            for row in ROWS]


def test_table_plants_a_bug_in_every_exercise():
    ids = [row["id"] for row in ROWS]
    assert len(ids) == len(set(ids)), "row ids are the student ids: they must be unique"
    lost = [expected_lost(row) for row in ROWS]
    assert all(len(l) <= 1 and l <= set(EXERCISES) for l in lost)
    assert set().union(*lost) == set(EXERCISES), "every exercise needs at least one planted bug"
    assert sum(not l for l in lost) >= 3, "at least three correct implementations that differ"
    for row in ROWS:
        build(row)  # every edit applies (plant raises when `old` is not found exactly once)


@pytest.fixture(scope="module")
def nbgrader_grades(tmp_path_factory):
    """Every row as a student of one temporary course, autograded by plain nbgrader in one run."""
    course = copy_course(tmp_path_factory.mktemp("course"), ASSIGNMENT)
    write_submissions(course, {row["id"]: build(row) for row in ROWS}, ASSIGNMENT)
    return grade_with_nbgrader(course, ASSIGNMENT)


@pytest.mark.parametrize("row", rows_marked("xfail_nbgrader"))
def test_nbgrader_takes_points_only_from_the_buggy_exercise(row, nbgrader_grades):
    grades = nbgrader_grades[row["id"]]
    lost = expected_lost(row)
    expected = {f"test_{f}": 0.0 if f in lost else grades[f"test_{f}"][1] for f in EXERCISES}
    assert {name: score for name, (score, _) in grades.items()} == expected, row["why"]


def notebook_namespace(nb) -> dict:
    """Globals after running the notebook's code cells, test cells and %magics left out.

    A cell that raises is skipped, as nbgrader runs on past errors; printed output is discarded.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    namespace = {"__name__": "__main__"}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile(code, f"<cell {index}>", "exec"), namespace)
            except Exception:
                pass
    plt.close("all")
    return namespace


@pytest.mark.parametrize("row", rows_marked("xfail_checks"))
def test_hidden_checks_fail_only_the_buggy_function(row, monkeypatch):
    monkeypatch.chdir(SOURCE)  # gc_utils and public_tests import from here, as in the kernel
    monkeypatch.syspath_prepend(str(SOURCE))
    subject = InProcessSubject(notebook_namespace(build(row)), resolve)
    tolerances, checks = tolerances_for(ASSIGNMENT), checks_for(ASSIGNMENT)
    results = {f: run_check(f, subject, tolerances, checks) for f in EXERCISES}
    verdicts = {f: "lost" if r.status in ("failed", "error") else r.status for f, r in results.items()}
    expected = {f: "lost" if f in expected_lost(row) else "passed" for f in EXERCISES}
    assert verdicts == expected, f"{row['why']}\n" + "\n".join(f"{f}: {r.message}" for f, r in results.items())
