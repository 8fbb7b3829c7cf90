"""What a source notebook says about its exercises: the autograded test cells and their points.

An exercise is a solution cell whose nbgrader grade_id is a function's name, graded by a test
cell whose grade_id is test_<function> (autograder.grading.results.exercise_of). Totals are read
from here, never typed anywhere else (trusted side).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..grading.results import function_of


@dataclass(frozen=True)
class Exercise:
    exercise: str   # the test cell's grade_id, test_<function>
    function: str   # the graded function
    points: float


def is_test_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def solution_functions(nb) -> list[str]:
    """The grade_ids of the code solution cells, in notebook order: the graded functions."""
    return [cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")]


def exercises(nb) -> list[Exercise]:
    """Every autograded test cell of a notebook (a NotebookNode or a path), in notebook order."""
    if not isinstance(nb, nbformat.NotebookNode):
        nb = nbformat.read(str(nb), as_version=4)
    found = []
    for cell in filter(is_test_cell, nb.cells):
        meta = cell.metadata["nbgrader"]
        grade_id = meta.get("grade_id", "")
        found.append(Exercise(grade_id, function_of(grade_id), float(meta.get("points", 0))))
    return found


def source_notebook(assignment: str, root: Path, notebook: str | None = None) -> Path:
    """source/<assignment>/<notebook>.ipynb: the instructor notebook (solutions, hidden tests)."""
    return root / "source" / assignment / f"{notebook or assignment}.ipynb"


def points(nb) -> dict[str, float]:
    """{test cell grade_id: points}."""
    return {e.exercise: e.points for e in exercises(nb)}
