"""Put a submission's nbgrader metadata back as the release had it, before nbgrader sees it.

Jupyter makes it easy to duplicate or delete a cell by accident, and a student can forge
metadata on purpose. nbgrader then refuses the whole notebook, or grades a cell that should not
count. Here every known grade id gets the release's metadata on its first cell of the right
type; copies and unknown ids become ordinary cells; deleted test cells are restored after their
exercise (nbgrader then puts back their source from the gradebook, and the judge decides).
Trusted side: the metadata it reads is the student's, so any shape of it must be survived.
"""
from __future__ import annotations

import copy

import nbformat

from ...untrusted_text import printable

#: More repairs than this are summed up in one line (a notebook may forge thousands).
MAX_NOTES = 10


def _grade_id(cell) -> str | None:
    meta = cell.metadata.get("nbgrader")
    grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def repair_metadata(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """Repair nb in place against the release notebook; what was changed, in the student's terms."""
    known = {_grade_id(c): c for c in release.cells if _grade_id(c)}
    seen, notes = set(), []
    for cell in nb.cells:
        if "nbgrader" not in cell.metadata:
            continue
        grade_id = _grade_id(cell)
        original = known.get(grade_id)
        if original is not None and grade_id not in seen and original.cell_type == cell.cell_type:
            cell.metadata["nbgrader"] = copy.deepcopy(original.metadata["nbgrader"])
            seen.add(grade_id)
        else:
            del cell.metadata["nbgrader"]
            shown = printable(grade_id)[:80] if grade_id else "(no grade id)"
            notes.append(f"a copy of cell {shown!r} was graded as an ordinary cell" if grade_id in seen
                         else f"cell {shown!r} is not in the assignment and was graded as an ordinary cell")
    for grade_id, original in known.items():
        meta = original.metadata["nbgrader"]
        if grade_id in seen or not meta.get("grade") or meta.get("solution"):
            continue
        restored = copy.deepcopy(original)
        exercise = grade_id[len("test_"):] if grade_id.startswith("test_") else None
        after = next((i for i, c in enumerate(nb.cells) if exercise and _grade_id(c) == exercise), None)
        nb.cells.insert(len(nb.cells) if after is None else after + 1, restored)
        notes.append(f"test cell {grade_id!r} was missing and was restored")
    if len(notes) > MAX_NOTES:
        notes = notes[:MAX_NOTES] + [f"and {len(notes) - MAX_NOTES} more cells like these"]
    return notes
