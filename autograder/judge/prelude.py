"""The prelude of a release notebook: its locked opening code cells (trusted side).

Every submission starts by running the instructor's opening cells (imports, set-up, a
demonstration plot) unchanged: nbgrader restores locked cells from the release. The warm zygote
runs them once, and each child whose notebook opens with exactly these cells starts after them
(see zygote.py). Only cells before the first one a student edits or the autograder tests count.
"""
from __future__ import annotations

import functools
from pathlib import Path

import nbformat


def locked_opening(nb) -> list[tuple[int, str]]:
    """(index, source) of the code cells before the first one that is an exercise, a test, or
    not locked; markdown cells in between are passed over."""
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("locked") or meta.get("solution") or meta.get("grade"):
            break
        cells.append((index, cell.source))
    return cells


@functools.lru_cache(maxsize=16)
def _opening_of(path: str, mtime_ns: int, size: int) -> tuple:
    return tuple(locked_opening(nbformat.read(path, as_version=4)))


def release_prelude(release_notebook: Path | None) -> list[tuple[int, str]]:
    """The prelude of a release notebook file; [] when there is none or it cannot be read."""
    try:
        info = Path(release_notebook).stat()
        return list(_opening_of(str(release_notebook), info.st_mtime_ns, info.st_size))
    except (TypeError, OSError, ValueError, nbformat.ValidationError):
        return []
