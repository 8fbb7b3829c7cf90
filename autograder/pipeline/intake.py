"""Turn what an instructor hands in (a folder or an LMS zip) into nbgrader's submitted/ layout.

Accepted: `<student_id>/<assignment>/<notebook>.ipynb` (nbgrader's own layout), a folder of
`<student_id>.ipynb` files, or a .zip of either (one wrapping top folder is fine); also Canvas's
and Moodle's submission downloads, mapped to student ids through a roster (see lms.py).
Trusted side: it reads only a private copy made by unpack.py (no links, FIFOs or devices), never
guesses (two submissions for one id, several notebooks none of them the expected one, a name
with control characters: each is refused and reported), and every file that cannot be graded
becomes a Problem naming the file and what to do; nothing here raises for one bad submission.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .notebook_reader import MAX_NOTEBOOK_BYTES, read_notebook  # noqa: F401 - read_notebook is this module's API too
from .repair import repair_metadata
from .unpack import Unpacked, UnpackError, copy_folder, extract_zip
from .untrusted_text import printable

#: Student ids become folder names: letters, digits and . _ @ - only, no leading dot.
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")

#: Files that zip tools and Jupyter leave behind; never submissions.
JUNK = {"__MACOSX", ".DS_Store", ".ipynb_checkpoints", "Thumbs.db"}


class IntakeError(Exception):
    """The submissions as a whole cannot be read (a missing path, a corrupt zip)."""


@dataclass
class Problem:
    student_id: str  # as the download names it, with control characters escaped (untrusted_text.printable)
    status: str  # "error" or "missing"
    message: str


@dataclass
class Intake:
    students: dict[str, Path] = field(default_factory=dict)  # student -> submitted notebook
    sha256: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)


def bad_id_problem(student: str, what: str = "rename the file or folder") -> Problem:
    """The Problem for an id that cannot be a folder name; it is shown escaped, never raw."""
    return Problem(printable(student), "error", f"student id {printable(student)!r} has characters that are not "
                   f"allowed (letters, digits and . _ @ - only); {what}")


def _unwrap(folder: Path) -> Path:
    """Skip a single wrapping folder (and macOS metadata) that zip tools add."""
    entries = [p for p in folder.iterdir() if p.name not in ("__MACOSX", ".DS_Store")]
    if len(entries) == 1 and entries[0].is_dir() and not _looks_like_student(entries[0]):
        return _unwrap(entries[0])
    return folder


def _looks_like_student(folder: Path) -> bool:
    return any(p.is_dir() and any(p.glob("*.ipynb")) for p in folder.iterdir()) if folder.is_dir() else False


def find_submissions(root: Path, assignment: str, unpacked: Unpacked | None = None
                     ) -> tuple[dict[str, list[Path]], set[str], list[Problem]]:
    """{student_id: [notebook files]} from either layout, the flat-layout ids, and problems.

    A student found twice (alice.ipynb beside alice/), or whose files include a link, is a
    Problem and not in the result."""
    found: dict[str, list[Path]] = {}
    origins: dict[str, list[str]] = {}
    refused: dict[str, str] = {}
    flat: set[str] = set()  # students whose file name is their id: its stem is not a notebook name
    for entry in sorted(root.iterdir()):
        if entry.name in JUNK or entry.name.startswith("._"):
            continue
        student = entry.stem if entry.suffix == ".ipynb" else entry.name
        why = unpacked.reason(entry) if unpacked else ""
        if why:
            refused.setdefault(student, why)
            origins.setdefault(student, []).append(entry.name)
            continue
        if entry.name.startswith(".") and entry.is_dir() and not any(entry.rglob("*.ipynb")):
            continue  # .git and the like; a dot-named notebook or folder of notebooks is reported below
        if entry.is_file() and entry.suffix == ".ipynb":
            found.setdefault(student, []).append(entry)
            flat.add(student)
            origins.setdefault(student, []).append(entry.name)
        elif entry.is_dir():
            linked = [p for p in sorted(entry.rglob("*")) if unpacked and unpacked.reason(p)]
            if linked:
                refused.setdefault(student, unpacked.reason(linked[0]))
            folder = entry / assignment if (entry / assignment).is_dir() else entry
            found.setdefault(student, []).extend(sorted(folder.glob("*.ipynb")))
            origins.setdefault(student, []).append(entry.name + "/")
    problems: list[Problem] = []
    for student in sorted(set(found) | set(refused)):
        if not STUDENT_ID.match(student) or student in (".", ".."):
            problems.append(bad_id_problem(student))
        elif len(origins.get(student, ())) > 1:
            problems.append(Problem(student, "error", f"two submissions for {student}: "
                                    f"{' and '.join(printable(o) for o in origins[student])}; keep one and grade again"))
        elif student in refused:
            problems.append(Problem(student, "error", refused[student]))
        else:
            continue
        found.pop(student, None)
    return found, flat, problems


def choose_notebook(student: str, files: list[Path], notebook: str, assignment: str, flat: bool
                    ) -> tuple[Path | None, str, Problem | None]:
    """(the file to grade, a note, or a Problem): the expected name wins; otherwise only a lone notebook."""
    expected = [f for f in files if f.stem == notebook]
    others = [f for f in files if f.stem != notebook]
    if expected:
        note = (f"graded {notebook}.ipynb; also handed in {', '.join(printable(f.name) for f in others)} (not graded)"
                if others else "")
        return expected[0], note, None
    if len(files) == 1:
        return files[0], "" if flat else f"graded {printable(files[0].name)} (expected {notebook}.ipynb)", None
    if not files:
        return None, "", Problem(student, "missing", f"no notebook found for {student}; "
                                 f"expected {assignment}/{notebook}.ipynb")
    names = ", ".join(printable(f.name) for f in files)
    return None, "", Problem(student, "error", f"{student} handed in several notebooks ({names}) and none is named "
                             f"{notebook}.ipynb; keep only the one to grade, named {notebook}.ipynb, and grade again")


def check_path(submissions: Path) -> None:
    """IntakeError unless SUBMISSIONS is something take_in reads; said before anything is created."""
    if not submissions.exists():
        raise IntakeError(f"{submissions} does not exist; pass a folder of notebooks or a .zip")
    if submissions.is_file() and submissions.suffix.lower() != ".zip":
        raise IntakeError(f"{submissions} is a file but not a .zip; pass a folder or a .zip")


def take_in(submissions: Path, assignment: str, notebook: str, course: Path, roster: Path | None = None) -> Intake:
    """Copy every gradable notebook into course/submitted/<student>/<assignment>/<notebook>.ipynb."""
    submissions = Path(submissions)
    check_path(submissions)
    released = course / "release" / assignment / f"{notebook}.ipynb"
    release = nbformat.read(released, as_version=4) if released.is_file() else None
    with tempfile.TemporaryDirectory(prefix="intake-") as tmp:
        staged = Path(tmp) / "submissions"
        staged.mkdir()
        try:
            unpacked = extract_zip(submissions, staged) if submissions.is_file() else copy_folder(submissions, staged)
        except UnpackError as exc:
            raise IntakeError(str(exc)) from None
        intake = Intake()
        for member, why in unpacked.skipped.items():
            stem = Path(member.replace("\\", "/")).stem or "unnamed"
            intake.problems.append(Problem(printable(stem), "error", f"{printable(submissions.name)}: member "
                                           f"{printable(member)!r} {why} and was not unpacked; rebuild the zip from "
                                           "the submissions folder"))
        from .lms import normalize  # a Canvas or Moodle download becomes <student_id>/ folders (roster)
        lms = normalize(staged, notebook, roster, Path(tmp), unpacked)
        if lms:
            intake.problems += lms.problems
            intake.notes.update(lms.notes)
        found, flat, problems = find_submissions(lms.root if lms else _unwrap(staged), assignment,
                                                 None if lms else unpacked)
        intake.problems += problems
        for student, files in sorted(found.items()):
            try:
                _take_one(intake, student, files, notebook, assignment, course, release, student in flat)
            except Exception as exc:  # noqa: BLE001 - one hostile file costs only its own student
                intake.students.pop(student, None)
                intake.problems.append(Problem(student, "error", f"the submission of {student} could not be taken in "
                                               f"({type(exc).__name__}); re-save the notebook from Jupyter and "
                                               "resubmit"))
    return intake


def _take_one(intake: Intake, student: str, files: list[Path], notebook: str, assignment: str, course: Path,
              release, flat: bool) -> None:
    path, note, problem = choose_notebook(student, files, notebook, assignment, flat)
    if problem:
        intake.problems.append(problem)
        return
    nb, message = read_notebook(path)
    if nb is None:
        intake.problems.append(Problem(student, "error", message))
        return
    notes = [intake.notes.get(student, ""), note]
    if release is not None:
        notes += repair_metadata(nb, release)
    if any(notes):
        intake.notes[student] = "; ".join(filter(None, notes))
    dest = course / "submitted" / student / assignment / f"{notebook}.ipynb"
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Read and validated above, only its metadata put back from the release since: written as plain
    # JSON (nbformat.write would validate it again and indent it in pure Python, 5 ms a notebook).
    dest.write_text(json.dumps(nb, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    stamp = path.parent / "timestamp.txt"
    if stamp.is_file() and stamp.stat().st_size < 1024:
        shutil.copyfile(stamp, dest.parent / "timestamp.txt")
    intake.students[student] = dest
    intake.sha256[student] = hashlib.sha256(path.read_bytes()).hexdigest()
