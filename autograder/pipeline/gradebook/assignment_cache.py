"""The registered assignment, built once per version of its source and reused by every grading run.

`nbgrader generate_assignment` plus the alembic migrations of a new gradebook take about 4 s, the
biggest part of a run's set-up, and give the same result for the same source. This module keeps
that result (the generated release folder and a gradebook holding only the assignment) in a
cache folder keyed by the hash of the source files, the nbgrader version and the course id.
Trusted side: it reads the instructor's source, never a submission.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from ...judge.sandbox import Limits
from ..steps.config import grading_config
from .store import COURSE_ID, sqlite_url

IGNORED = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
GRADEBOOK = "gradebook.db"


class TemplateError(Exception):
    """nbgrader could not register the assignment; the message carries its log."""


def cache_home() -> Path:
    """$AUTOGRADER_CACHE, else $XDG_CACHE_HOME/autograder, else ~/.cache/autograder."""
    if os.environ.get("AUTOGRADER_CACHE"):
        return Path(os.environ["AUTOGRADER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "autograder"


def source_key(source: Path) -> str:
    """Hash of every file of the source folder (names and bytes), nbgrader's version, the course id."""
    digest = hashlib.sha256(f"{metadata.version('nbgrader')}\0{COURSE_ID}\0".encode())
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source)
        if any(part in ("__pycache__", ".ipynb_checkpoints") for part in relative.parts):
            continue
        digest.update(str(relative.as_posix()).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]


def template(source: Path, assignment: str) -> Path:
    """A folder with source/<assignment>, release/<assignment> and gradebook.db (the assignment
    registered, no students), built on first use for this source and reused afterwards."""
    home = cache_home()
    folder = home / f"{assignment}-{source_key(source)}"
    if (folder / GRADEBOOK).is_file():
        return folder
    home.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{assignment}-", dir=home))
    try:
        shutil.copytree(source, build / "source" / assignment, ignore=IGNORED)
        db_url = sqlite_url(build / GRADEBOOK)
        config = grading_config(build, db_url, Limits())
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        result = api.generate_assignment(assignment, force=True, create=True)
        if not result.get("success"):
            raise TemplateError(f"nbgrader generate_assignment {assignment} failed:\n"
                                f"{result.get('error') or result.get('log')}")
        try:
            build.rename(folder)  # atomic: a concurrent run that lost the race uses the winner's
        except OSError:
            if not (folder / GRADEBOOK).is_file():
                raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return folder


def install(folder: Path, assignment: str, course: Path) -> None:
    """Copy a template's source and release folders into a course root (replacing old copies)."""
    for kind in ("source", "release"):
        target = course / kind / assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(folder / kind / assignment, target)
