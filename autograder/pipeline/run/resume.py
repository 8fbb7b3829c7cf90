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
from pathlib import Path

from ...course.fingerprint import hash_tree, kit_version, secret_digest
from ...judge.sandbox import Limits
from ..gradebook import verdicts
from ..gradebook.verdicts import VerdictRecord


def resume_key(root: Path, assignment: str, manifest_path: Path | None, limits: Limits, executor: str) -> str:
    """One hash of everything besides the submission that decides a verdict."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"limits": [limits.wall_seconds, limits.memory_mb], "executor": executor,
                              "kit": kit_version()}, sort_keys=True).encode())
    digest.update(secret_digest(root).encode())  # another secret draws other hidden cases
    if manifest_path and Path(manifest_path).is_file():
        digest.update(Path(manifest_path).read_bytes())
    for part in ("source", "release", "assignments"):
        hash_tree(digest, root / part / assignment)
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
