"""nbgrader's OverwriteCells with the release's cells read once per worker (trusted side).

OverwriteCells puts back what a student may not change (locked cells' source, points, cell
types) from the gradebook's record of the release, asking it two questions per cell: 49 of a
notebook's 93 SQL statements. That record is fixed once the assignment is registered, before any
worker starts, so a worker reads it once (two queries) and answers the rest from memory.
"""
from __future__ import annotations

from types import SimpleNamespace

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import OverwriteCells

_READ: dict[tuple, tuple[dict, dict]] = {}


def _release(db_url: str, notebook: str, assignment: str) -> tuple[dict, dict]:
    """({cell name: source cell}, {cell name: graded cell}) of a registered notebook, as plain records."""
    key = (db_url, assignment, notebook)
    if key not in _READ:
        with Gradebook(db_url) as gb:
            registered = gb.find_notebook(notebook, assignment)
            sources = {c.name: SimpleNamespace(name=c.name, cell_type=c.cell_type, locked=c.locked,
                                               checksum=c.checksum, source=c.source)
                       for c in registered.source_cells}
            graded = {c.name: SimpleNamespace(name=c.name, max_score=c.max_score)
                      for c in [*registered.grade_cells, *registered.task_cells]}
        _READ[key] = (sources, graded)
    return _READ[key]


def forget() -> None:
    """Drop the release records read so far in this process, so the next step reads its gradebook
    again (a worker never needs to: a registered release does not change while it grades)."""
    _READ.clear()


class _ReleaseRecord:
    """The two Gradebook lookups OverwriteCells.preprocess_cell makes, answered from memory."""

    def __init__(self, sources: dict, graded: dict):
        self.sources, self.graded = sources, graded

    def find_source_cell(self, name, notebook, assignment):
        try:
            return self.sources[name]
        except KeyError:
            raise MissingEntry() from None

    def find_graded_cell(self, name, notebook, assignment):
        try:
            return self.graded[name]
        except KeyError:
            raise MissingEntry() from None


class OverwriteCellsFromRelease(OverwriteCells):
    """OverwriteCells, its per-cell lookups answered from the release's record read once."""

    def preprocess(self, nb, resources):
        if self.add_missing_cells:  # that option reads the gradebook in other ways too: nbgrader's own
            return super().preprocess(nb, resources)
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.db_url = resources["nbgrader"]["db_url"]
        self.gradebook = _ReleaseRecord(*_release(self.db_url, self.notebook_id, self.assignment_id))
        return super(OverwriteCells, self).preprocess(nb, resources)  # the per-cell loop
