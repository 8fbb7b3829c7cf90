"""The notebooks compared: a class (submissions or a graded OUT), and a corpus of known solutions.

A class is taken in by the kit's own intake (nbgrader's layout, a folder of <student>.ipynb, a .zip,
an LMS download), into a private temporary course, so its checks and refusals are the grading
run's. A graded OUT folder is read from its submitted/ (or autograded/) folder, and its
grades_by_exercise.csv gives each exercise's verdict. Known solutions are any notebooks below a
folder, read within the same limits; their functions are found by name.
"""
from __future__ import annotations

import csv
import json
import multiprocessing
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..grading.status import FAILING  # a verdict status that means the exercise's function is wrong
from ..pipeline.intake.intake import JUNK, take_in
from ..pipeline.intake.problems import Problem
from ..pipeline.intake.notebook_reader import read_notebook
from ..grading_output.reports import EXERCISES_FILE
from ..untrusted_text import printable
from .exercises import Assignment, Code, notebook_code
from .fingerprints import Fingerprint, boilerplate, fingerprint

#: More known notebooks than this below --known is not a corpus someone collected; the rest are left out.
MAX_KNOWN = 5_000
#: A class at least this large is fingerprinted by one process per core (below, starting them costs more).
PARALLEL_FROM = 100


@dataclass
class Entry:
    """One notebook compared: a student's, or a known solution's."""
    name: str  # student id, or the known notebook's path below --known
    known: bool
    code: dict[str, Code] = field(default_factory=dict)  # exercise -> its code (functions dropped once printed)
    prints: dict[str, Fingerprint] = field(default_factory=dict)  # exercise -> fingerprint
    failing: frozenset[str] = frozenset()  # exercises the judge's verdict failed


@dataclass
class Corpus:
    entries: list[Entry]
    problems: list[Problem]
    graded: bool  # whether verdicts were read (an OUT folder)
    source: str  # what was read, for the report's header


def graded_folder(path: Path) -> Path | None:
    """OUT's folder of submissions in nbgrader's layout, if path is a graded course folder."""
    for name in ("submitted", "autograded"):
        if (path / name).is_dir():
            return path / name
    return None


def _entry(name: str, known: bool, nb, assignment: Assignment, base: dict[str, frozenset[int]]) -> Entry:
    """The notebook's exercises, fingerprinted; whatever its code provokes, an entry (maybe empty)."""
    entry = Entry(name, known)
    try:
        found = notebook_code(nb, assignment.exercises)
    except Exception:  # noqa: BLE001 - a hostile notebook costs only its own comparison
        return entry
    for exercise, code in found.items():
        prints = fingerprint(code, base.get(exercise, frozenset()))
        if prints:
            entry.prints[exercise] = prints
            entry.code[exercise] = Code([], code.source, code.globals)
    return entry


_SHARED: tuple = ()  # (assignment, boilerplate) in a forked fingerprinting process


def _share(assignment: Assignment, base: dict[str, frozenset[int]]) -> None:
    global _SHARED
    _SHARED = (assignment, base)


def _student(item: tuple[str, Path]) -> Entry:
    """One taken-in notebook as an entry (in a forked process, or in this one)."""
    student, notebook = item
    nb = json.loads(notebook.read_text(encoding="utf-8"))  # written by the intake from a checked notebook
    return _entry(student, False, nb, *_SHARED)


def _students(taken: dict[str, Path], assignment: Assignment, base: dict[str, frozenset[int]], jobs: int,
              parallel_from: int) -> list[Entry]:
    """Every taken-in notebook as an entry, in id order; over `jobs` forked processes for a large class.

    Forked, the processes share the release's parsed code and read only the intake's private copies."""
    items = sorted(taken.items())
    _share(assignment, base)
    if jobs < 2 or len(items) < parallel_from or "fork" not in multiprocessing.get_all_start_methods():
        return [_student(item) for item in items]
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_student, items, chunksize=max(1, len(items) // (8 * jobs))))


def _verdicts(out: Path, assignment: Assignment) -> dict[str, frozenset[str]]:
    """student -> the exercises their verdict failed, from OUT/grades_by_exercise.csv."""
    path = out / EXERCISES_FILE
    if not path.is_file():
        return {}
    by_test = {e.test: e.name for e in assignment.exercises if e.test}
    failing: dict[str, set[str]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("assignment") == assignment.name and row.get("status") in FAILING:
                exercise = by_test.get(row.get("exercise", ""))
                if exercise:
                    failing.setdefault(row.get("student_id", ""), set()).add(exercise)
    return {student: frozenset(names) for student, names in failing.items()}


def read_class(path: Path, assignment: Assignment, root: Path, jobs: int = 1,
               parallel_from: int = PARALLEL_FROM) -> Corpus:
    """The class's entries, each exercise fingerprinted; a notebook that cannot be read is a Problem."""
    path = Path(path)
    graded = graded_folder(path) if path.is_dir() else None
    verdicts = _verdicts(path, assignment) if graded else {}
    base = boilerplate(assignment.release)
    with tempfile.TemporaryDirectory(prefix="similarity-") as tmp:
        course = Path(tmp)
        released = root / "release" / assignment.name / f"{assignment.notebook}.ipynb"
        (course / "release" / assignment.name).mkdir(parents=True)
        shutil.copyfile(released, course / "release" / assignment.name / released.name)  # metadata repair
        taken = take_in(graded or path, assignment.name, assignment.notebook, course)
        entries = _students(taken.students, assignment, base, jobs, parallel_from)
        for entry in entries:
            entry.failing = verdicts.get(entry.name, frozenset())
    return Corpus(entries, taken.problems, graded is not None and (path / EXERCISES_FILE).is_file(),
                  printable(str(path)))


def read_known(folder: Path, assignment: Assignment) -> tuple[list[Entry], list[str]]:
    """Every notebook below folder as a known solution, and a message for each that cannot be read."""
    folder = Path(folder)
    if not folder.is_dir():
        return [], [f"--known {printable(str(folder))} is not a folder; pass a folder of notebooks"]
    base = boilerplate(assignment.release)
    entries, messages = [], []
    paths = sorted(p for p in folder.rglob("*.ipynb")
                   if p.is_file() and not p.is_symlink() and not JUNK & set(p.relative_to(folder).parts))
    if len(paths) > MAX_KNOWN:
        messages.append(f"{len(paths)} notebooks below {printable(str(folder))}; only the first {MAX_KNOWN} are read")
    for path in paths[:MAX_KNOWN]:
        nb, message = read_notebook(path)
        label = printable(str(path.relative_to(folder)))
        if nb is None:
            messages.append(f"known solution {label}: {message}")
            continue
        entry = _entry(label, True, nb, assignment, base)
        if entry.prints:
            entries.append(entry)
        else:
            messages.append(f"known solution {label} holds none of the functions of {assignment.name}; left out")
    return entries, messages
