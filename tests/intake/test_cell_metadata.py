"""The compiled cell-metadata check refuses exactly what nbgrader's CheckCellMetadata refuses."""
import copy

import nbformat
import pytest
from nbgrader.converters.autograde import Autograde
from nbgrader.nbgraderformat import ValidationError
from nbgrader.preprocessors import CheckCellMetadata, OverwriteCells

from autograder.pipeline.steps.cell_metadata import CheckCellMetadataCompiled
from autograder.pipeline.steps.config import SANITIZE_STEPS
from autograder.pipeline.steps.release_cells import OverwriteCellsFromRelease

from support import ROOT

RELEASED = ROOT / "release" / "gradient_checking" / "gradient_checking.ipynb"


def _graded(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _corrupt(kind):
    nb = nbformat.read(str(RELEASED), as_version=4)
    cell = _graded(nb)[0]
    meta = cell.metadata["nbgrader"]
    if kind == "points are text":
        meta["points"] = "three"
    elif kind == "no grade_id":
        del meta["grade_id"]
    elif kind == "empty grade_id":
        meta["grade_id"] = ""
    elif kind == "no points":
        del meta["points"]
    elif kind == "schema too old":
        meta["schema_version"] = 2
    elif kind == "schema too new":
        meta["schema_version"] = 4
    elif kind == "duplicate grade id":
        meta["grade_id"] = _graded(nb)[1].metadata["nbgrader"]["grade_id"]
    elif kind == "grade is not a bool":
        meta["grade"] = "yes"
    elif kind == "markdown grade cell without solution":
        md = next(c for c in nb.cells if c.cell_type == "markdown")
        md.metadata["nbgrader"] = {**copy.deepcopy(meta), "grade_id": "md-x", "solution": False, "locked": False}
    return nb


def _verdict(preprocessor, nb):
    try:
        preprocessor.preprocess(copy.deepcopy(nb), {})
        return "valid"
    except Exception as exc:  # noqa: BLE001 - the type and text are what is compared
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("kind", ["none", "points are text", "no grade_id", "empty grade_id", "no points",
                                  "schema too old", "schema too new", "duplicate grade id",
                                  "grade is not a bool", "markdown grade cell without solution"])
def test_the_compiled_check_agrees_with_nbgraders(kind):
    nb = _corrupt(kind)
    ours, theirs = _verdict(CheckCellMetadataCompiled(), nb), _verdict(CheckCellMetadata(), nb)
    assert ours == theirs
    assert (ours == "valid") == (kind == "none")


def test_the_sanitize_pass_is_nbgraders_with_only_faster_versions_of_its_steps():
    """Step for step nbgrader's own sanitize pass; a step replaced only by a subclass of itself
    (the metadata check compiled once, OverwriteCells reading the release once)."""
    theirs = Autograde().sanitize_preprocessors
    assert len(SANITIZE_STEPS) == len(theirs)
    for ours, nbgraders in zip(SANITIZE_STEPS, theirs):
        assert issubclass(ours, nbgraders), (ours, nbgraders)
    assert [c for c in SANITIZE_STEPS if c is not CheckCellMetadataCompiled and c is not OverwriteCellsFromRelease] \
        == [c for c in theirs if c is not CheckCellMetadata and c is not OverwriteCells]


def test_a_corrupted_submission_is_refused_by_the_grading_run_as_nbgrader_would():
    with pytest.raises(ValidationError, match="metadata may be corrupted"):
        CheckCellMetadataCompiled().preprocess(_corrupt("points are text"), {})
