"""Digests of what decides a verdict besides the submission: the kit's code, an assignment's files
and the course secret (keyed, so a digest reveals nothing of it). A rerun's resume key and a Dask
worker's check that it grades with what the run does are both made of these."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..grading.secret import course_secret
from . import manifest

#: Files that never change a verdict.
IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints"}
#: The autograder package's folder, whose files the digests below read.
PACKAGE = Path(__file__).resolve().parents[1]


def hash_tree(digest, folder: Path, pattern: str = "*") -> None:
    """Feed every file under folder matching pattern (its relative path and its bytes' hash) into
    digest, in order."""
    if not folder.is_dir():
        digest.update(f"<no {folder.name}>".encode())
        return
    for path in sorted(folder.rglob(pattern)):
        if path.is_file() and not IGNORED_PARTS & set(path.parts):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())


def _tree_digest(folder: Path, pattern: str = "*") -> str:
    digest = hashlib.sha256()
    hash_tree(digest, folder, pattern)
    return digest.hexdigest()[:16]


def kit_version() -> str:
    """The installed version and a hash of every file of the autograder package (an edit changes it)."""
    try:
        version = metadata.version("gradcheck-autograder")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"{version}+{_tree_digest(PACKAGE)}"


def kit_code() -> str:
    """A hash of the autograder package's Python modules: what decides verdicts, and what every
    install of the kit has (a wheel leaves out the Gradescope scripts a checkout holds)."""
    return _tree_digest(PACKAGE, "*.py")


def assignment_digest(assignment: str, root: Path | None = None) -> str:
    """A hash of assignments/<assignment>/ (manifest, graders, tables) of the course at root."""
    return _tree_digest(manifest.folder(assignment, root))


def secret_digest(root: Path | None = None) -> str:
    """A keyed digest of the course secret: equal for equal secrets, and no help in guessing one."""
    return hmac.new(course_secret(root), b"autograder: which secret", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class Grader:
    """What a process grades an assignment with (a Dask worker must grade with the run's)."""
    kit: str  # kit_code()
    assignment: str
    secret: str

    @classmethod
    def here(cls, assignment: str, root: Path | None = None) -> "Grader":
        return cls(kit_code(), assignment_digest(assignment, root), secret_digest(root))

    def differences(self, other: "Grader", assignment: str) -> list[str]:
        """What differs from other, in words an instructor acts on."""
        return [words for differs, words in (
            (self.kit != other.kit, f"another version of the kit (its code {other.kit}, this run's {self.kit})"),
            (self.assignment != other.assignment, f"another assignments/{assignment}/ (its graders or manifest)"),
            (self.secret != other.secret, "another course secret (.autograder-secret), so other hidden cases"),
        ) if differs]
