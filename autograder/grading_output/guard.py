"""The grading output folder OUT, guarded (trusted side): never overlapping the submissions or the
course's source/ and release/, never a non-empty folder the kit did not make, and marked as the
kit's once it is (the folder .autograder/ in it, which also holds each assignment's class record).

Checked before anything is created, so a refused run leaves no half-built folder behind."""
from __future__ import annotations

import os
import stat
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
    """Make OUT (if need be: mode 0700 whatever the umask, as it will hold every student's notebook
    and grades) and mark it as the kit's; the marker folder."""
    out = Path(out)
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.mkdir(mode=0o700)
        os.chmod(out, 0o700)
    folder = out / KIT_FOLDER
    folder.mkdir(exist_ok=True)
    return folder


#: What each folder the kit guards holds, to say why another user must not read it.
HOLDS = {"OUT": "every student's notebook, grades and feedback", "source/": "the assignments' solutions"}


def open_to_others(folders: dict[str, Path]) -> list[str]:
    """A warning for each of `folders` ({what: path}, what a key of HOLDS) that every user of this
    machine may enter (its mode gives others read or search), with the command that closes it.
    Group permissions are left alone: a course's staff may share a group on purpose."""
    warnings = []
    for what, path in folders.items():
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode) and mode & (stat.S_IROTH | stat.S_IXOTH):
            warnings.append(f"{what} {path} holds {HOLDS[what]} and every user of this machine may read it "
                            f"(mode {stat.S_IMODE(mode):04o}): chmod o-rwx {path}")
    return warnings
