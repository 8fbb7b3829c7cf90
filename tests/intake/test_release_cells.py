"""OverwriteCellsFromRelease puts back exactly what nbgrader's OverwriteCells puts back, from the
release's record read once per worker instead of two queries per cell."""
import copy
import shutil

import nbformat
import pytest
from nbgrader.preprocessors import OverwriteCells

from autograder.pipeline.gradebook import assignment_cache
from autograder.pipeline.steps import release_cells
from autograder.pipeline.gradebook.store import sqlite_url

from support import ROOT
from support.submissions import load_source, solution_cell

ASSIGNMENT = "gradient_checking"


@pytest.fixture
def gradebook(tmp_path):
    template = assignment_cache.template(ROOT / "source" / ASSIGNMENT, ASSIGNMENT)
    path = tmp_path / "gradebook.db"
    shutil.copyfile(template / assignment_cache.GRADEBOOK, path)
    release_cells.forget()
    yield sqlite_url(path)
    release_cells.forget()


def _tampered() -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    cells["test_forward_propagation"].source = "print('all tests passed')"  # a locked test cell edited
    cells["test_backward_propagation"].metadata["nbgrader"]["points"] = 100  # points raised
    cells["cube_example"].metadata["nbgrader"]["locked"] = False  # unlocked
    cells["cube_secants"].cell_type = "markdown"  # type changed
    cells["cube_secants"].pop("outputs", None)
    cells["cube_secants"].pop("execution_count", None)
    forged = copy.deepcopy(cells["test_gradient_check"])
    forged.metadata["nbgrader"]["grade_id"] = "no_such_cell"  # an id the gradebook does not know
    nb.cells.append(forged)
    return nb


def _run(step, nb, db_url):
    resources = {"nbgrader": {"notebook": ASSIGNMENT, "assignment": ASSIGNMENT, "db_url": db_url}}
    return step.preprocess(copy.deepcopy(nb), resources)[0]


def test_it_puts_back_what_nbgraders_own_puts_back(gradebook):
    nb = _tampered()
    theirs = _run(OverwriteCells(), nb, gradebook)
    ours = _run(release_cells.OverwriteCellsFromRelease(), nb, gradebook)
    assert ours == theirs
    restored = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in ours.cells}
    assert restored["test_forward_propagation"].source != "print('all tests passed')"
    assert restored["test_backward_propagation"].metadata["nbgrader"]["points"] != 100
    assert "no_such_cell" not in restored


def test_the_release_is_read_once_per_worker(gradebook, monkeypatch):
    release_cells.OverwriteCellsFromRelease().preprocess(
        load_source(), {"nbgrader": {"notebook": ASSIGNMENT, "assignment": ASSIGNMENT, "db_url": gradebook}})
    monkeypatch.setattr(release_cells, "Gradebook", None)  # any further read would fail
    nb = load_source()
    solution_cell(nb, "forward_propagation").source += "\n# mine"
    out = _run(release_cells.OverwriteCellsFromRelease(), nb, gradebook)
    assert solution_cell(out, "forward_propagation").source.endswith("# mine")  # a solution stays the student's
