"""The grading output folder OUT, guarded (trusted side): never overlapping the submissions or the
course's source/ and release/, never a non-empty folder the kit did not make, and marked as the
kit's once it is (the folder .autograder/ in it, which also holds each assignment's class record).

Checked before anything is created, so a refused run leaves no half-built folder behind."""
from __future__ import annotations

from pathlib import Path

from ..course.manifest import KIT_FOLDER, is_kit_output


class OutputFolderError(Exception):
    """OUT cannot be used; the message names the folder and what to pass instead."""


def _overlap(a: Path, b: Path) -> str | None:
    if a == b:
        return "is"
    if b in a.parents:
        return "is inside"
    if a in b.parents:
        return "contains"
    return None


def check(out: Path, guarded: dict[str, Path]) -> Path:
    """OUT, resolved, when it may be written; else OutputFolderError. `guarded`: {what it is: path}
    for the folders OUT must neither be, lie inside, nor contain (SUBMISSIONS, source/, release/)."""
    resolved = Path(out).resolve()
    for what, path in guarded.items():
        relation = _overlap(resolved, Path(path).resolve())
        if relation:
            raise OutputFolderError(f"--out {out} {relation} {what} ({path}); grading would write into it or "
                                    "grade its own output: pass a separate folder, e.g. --out grading-output")
    if resolved.exists() and not resolved.is_dir():
        raise OutputFolderError(f"--out {out} is a file; pass a folder (new, empty, or one `grade` wrote)")
    if resolved.is_dir() and any(resolved.iterdir()) and not is_kit_output(resolved):
        raise OutputFolderError(f"--out {out} is a folder with files that `grade` did not write (no {KIT_FOLDER}/ "
                                "in it); pass a new or empty folder, or one `grade` wrote")
    return resolved


def mark(out: Path) -> Path:
    """Make OUT (if need be) and mark it as the kit's; the marker folder."""
    folder = Path(out) / KIT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder
