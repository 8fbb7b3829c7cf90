"""Which verdicts of an earlier run a rerun may keep instead of grading again (trusted side).

A verdict is kept only when nothing that decided it has changed: the submitted file, and the
run's key — the limits, the executor, the manifest, the assignment (source, release and its
helper modules), and the kit itself (its version and the hash of its code). A verdict the
grader's environment may have caused (a timeout, a child that was killed or crashed, a cell
that hung while loading) is never kept: the next run grades that notebook again.
"""
from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

from ...judge.sandbox import Limits
from ..gradebook import verdicts
from ..gradebook.verdicts import VerdictRecord

#: Files that never change a verdict.
_IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints"}


def _hash_tree(digest, folder: Path) -> None:
    if not folder.is_dir():
        digest.update(f"<no {folder.name}>".encode())
        return
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not _IGNORED_PARTS & set(path.parts):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())


def kit_version() -> str:
    """The installed version and a hash of the autograder package's code (an edit changes it)."""
    try:
        version = metadata.version("gradcheck-autograder")
    except metadata.PackageNotFoundError:
        version = "unknown"
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and not _IGNORED_PARTS & set(path.parts):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return f"{version}+{digest.hexdigest()[:16]}"


def resume_key(root: Path, assignment: str, manifest_path: Path | None, limits: Limits, executor: str) -> str:
    """One hash of everything besides the submission that decides a verdict."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"limits": [limits.wall_seconds, limits.memory_mb], "executor": executor,
                              "kit": kit_version()}, sort_keys=True).encode())
    from ...grading.secret import course_secret
    digest.update(hashlib.sha256(course_secret(root)).digest())  # another secret draws other hidden cases
    if manifest_path and Path(manifest_path).is_file():
        digest.update(Path(manifest_path).read_bytes())
    for part in ("source", "release", "assignments"):
        _hash_tree(digest, root / part / assignment)
    return digest.hexdigest()


def previous_verdict(out: Path, assignment: str, notebook: str, student: str, sha256: str,
                     key: str) -> VerdictRecord | None:
    """The verdict record of an earlier run on the very same file under the same key, if it may be kept."""
    feedback = out / "feedback" / student / assignment / f"{notebook}.html"
    record = verdicts.read(out, student, assignment)
    if record is None or not feedback.is_file():
        return None
    if record.submission_sha256 != sha256 or record.resume_key != key or not record.complete:
        return None
    return record if record.resumable() else None  # else the machine's load, not the submission, may have decided it
