"""Assignment manifests (assignments/<name>/manifest.toml): title, due date, tolerances and limits.

The schema below is the one list of what a manifest may hold, with types, defaults and help;
an unknown section or key is refused with a message naming it and the file, so a typo is an
error, never a silent default (trusted side).
"""
from __future__ import annotations

import datetime
import functools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..grading.tolerances import EPSILONS, THRESHOLD, Tolerances

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: The folder of every assignment, under the course root, and its manifest's name there.
ASSIGNMENTS = "assignments"
MANIFEST = "manifest.toml"


class ManifestError(Exception):
    """A manifest is missing or malformed; the message names the file."""


def _text(value):
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError("must be text in quotes")
    return value


def _positive(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError("must be a positive number")
    return float(value)


def _steps(value):
    if not isinstance(value, list) or not value:
        raise ValueError("must be a list of positive numbers, e.g. [1e-4, 1e-5, 1e-6]")
    return tuple(_positive(v) for v in value)


def _megabytes(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 64:
        raise ValueError("must be a whole number of MiB, at least 64")
    return value


#: section -> key -> (how to read the value, help). Each key is a Manifest field of that name,
#: whose default applies when the key is left out.
#: What the time limit is, in the words --help, the manifests and the docs use.
TIME_LIMIT_WORDS = ("CPU seconds per submission, for the kernel and for the judge (its own processes' time, read "
                    "from outside; its wall time is bounded by this plus a fixed margin: judge/budget.py)")
SCHEMA = {
    "assignment": {
        "title": (_text, "the assignment's title, as the LMS and Gradescope show it"),
        "notebook": (_text, "the notebook's name without .ipynb, in source/<name>/ [the assignment's name]"),
        "due": (_text, "the due date, ISO 8601, e.g. 2026-12-18T23:59:00+00:00"),
    },
    "grading": {
        "threshold": (_positive, "a gradient is correct when its relative difference is below this"),
        "reference_epsilons": (_steps, "candidate steps of the reference central difference"),
    },
    "limits": {
        "time_seconds": (_positive, TIME_LIMIT_WORDS),
        "memory_mb": (_megabytes, "memory per submission, MiB"),
    },
}


@dataclass(frozen=True)
class Manifest:
    name: str
    title: str
    notebook: str
    due: str | None = None
    threshold: float = THRESHOLD
    reference_epsilons: tuple[float, ...] = EPSILONS
    time_seconds: float = 120.0
    memory_mb: int = 1024
    path: Path | None = field(default=None, compare=False)

    @property
    def folder(self) -> Path | None:
        """assignments/<name>/: the manifest, the grader, sample recipes and planted bugs."""
        return self.path.parent if self.path else None

    @property
    def tolerances(self) -> Tolerances:
        return Tolerances(self.threshold, self.reference_epsilons)


#: The course a command works on, once decided (the command line sets it for the processes it starts).
COURSE_ENV = "AUTOGRADER_COURSE_ROOT"
#: The course's nbgrader configuration, in its root.
COURSE_CONFIG = "nbgrader_config.py"


def is_course(folder: Path) -> bool:
    """A course root holds nbgrader_config.py and assignments/ (a new course: its config alone, when it is
    not the config `grade` writes into its output folder)."""
    config = folder / COURSE_CONFIG
    if not config.is_file():
        return False
    if (folder / ASSIGNMENTS).is_dir():
        return True
    return not is_kit_output(folder)


#: The kit's own folder in a grading output folder (OUT): its presence marks OUT as a kit output.
KIT_FOLDER = ".autograder"
#: The feedback exporter that the nbgrader_config.py `grade` writes (pipeline/steps/config.py) names:
#: a folder whose config names it is the kit's (an OUT made before the marker existed, a Dask
#: worker's scratch course). The first is the exporter's path now, the second before issue 22.
KIT_EXPORTERS = ("autograder.pipeline.feedback.exporter.FeedbackExporter",
                 "autograder.pipeline.feedback_exporter.FeedbackExporter")


def is_kit_output(out: Path) -> bool:
    """True when the kit made this folder (its marker, or an nbgrader_config.py that names the kit's
    exporter). Here, beside is_course, because an output folder is never a course;
    grading_output/guard.py guards OUT with it."""
    if (out / KIT_FOLDER).is_dir():
        return True
    config = out / COURSE_CONFIG
    try:
        text = config.read_text(encoding="utf-8", errors="replace") if config.is_file() else ""
    except OSError:
        return False
    return any(exporter in text for exporter in KIT_EXPORTERS)


def find_course(start: Path) -> Path | None:
    """The course around `start`, as nbgrader finds its own: start or its nearest parent that is a course."""
    start = Path(start).resolve()
    return next((folder for folder in (start, *start.parents) if is_course(folder)), None)


def course_root() -> Path:
    """The course root: $AUTOGRADER_COURSE_ROOT (the command line sets it: --course, or the course it
    found), else the course around the current folder, else the folder above the autograder package
    (a kit unpacked as its own course, as in the Gradescope image)."""
    env = os.environ.get(COURSE_ENV) or ""
    return _resolved_root(env, "" if env else os.getcwd())


@functools.lru_cache(maxsize=16)
def _resolved_root(env: str, cwd: str) -> Path:
    # Cached: the judge asks for it on every call a student's checker makes to a trusted function.
    if env:
        return Path(env).resolve()
    return find_course(Path(cwd)) or Path(__file__).resolve().parents[2]


def folder(name: str, root: Path | None = None) -> Path:
    """assignments/<name>/ of the course at root."""
    return (root or course_root()) / ASSIGNMENTS / name


def available(root: Path | None = None) -> list[str]:
    """Every assignment of the course: the folders of assignments/ that hold a manifest."""
    root = root or course_root()
    return sorted(p.parent.name for p in (root / ASSIGNMENTS).glob(f"*/{MANIFEST}"))


def parse(name: str, text: str, path: Path) -> Manifest:
    """A Manifest from a manifest's text; ManifestError names the file and the key that is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: {exc}; fix the file (see the comments in it)") from None
    values = {}
    for section, entries in data.items():
        if section not in SCHEMA:
            raise ManifestError(f"{path}: unknown section [{section}]; a manifest has "
                                f"{', '.join(f'[{s}]' for s in SCHEMA)}")
        if not isinstance(entries, dict):
            raise ManifestError(f"{path}: {section} must be a section, [{section}]")
        for key, value in entries.items():
            if key not in SCHEMA[section]:
                raise ManifestError(f"{path}: unknown key {key!r} in [{section}]; [{section}] takes "
                                    f"{', '.join(SCHEMA[section])}")
            read, meaning = SCHEMA[section][key]
            try:
                values[key] = read(value)
            except ValueError as exc:
                raise ManifestError(f"{path}: [{section}] {key} {exc} ({meaning})") from None
    values.setdefault("title", name)
    values.setdefault("notebook", name)
    return Manifest(name=name, path=path, **values)


def load(name: str, root: Path | None = None) -> Manifest:
    """Read assignments/<name>/manifest.toml, with a clear error naming the file when it is wrong."""
    root = root or course_root()
    path = folder(name, root) / MANIFEST
    if not path.is_file():
        known = ", ".join(available(root)) or "none"
        raise ManifestError(f"no manifest {path} for assignment {name!r} (known: {known})")
    return parse(name, path.read_text(encoding="utf-8"), path)


def tolerances_for(assignment: str, root: Path | None = None) -> Tolerances:
    """The manifest's threshold and reference steps, or the defaults when it cannot be read."""
    try:
        return load(assignment, root).tolerances
    except ManifestError:
        return Tolerances()
