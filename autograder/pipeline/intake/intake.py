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
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .lms import normalize  # a Canvas or Moodle download becomes <student_id>/ folders (roster)
from .notebook_reader import MAX_NOTEBOOK_BYTES, read_notebook  # noqa: F401 - read_notebook is this module's API too
from .problems import IntakeError, Problem
from .repair import repair_metadata
from .submission_names import STUDENT_ID, kind_of, student_of_file, student_of_folder, upload_number
from .unpack import Unpacked, UnpackError, copy_file, copy_folder, extract_zip
from ...grading.status import Status
from ...untrusted_text import printable


#: Files that zip tools and Jupyter leave behind; never submissions.
JUNK = {"__MACOSX", ".DS_Store", ".ipynb_checkpoints", "Thumbs.db"}


@dataclass
class Intake:
    students: dict[str, Path] = field(default_factory=dict)  # student -> submitted notebook
    sha256: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # student -> the file or folder handed in


def bad_id_problem(student: str, what: str = "rename the file or folder", source: str = "") -> Problem:
    """The Problem for an id that cannot be a folder name; it is shown escaped, never raw."""
    return Problem(printable(student), Status.ERROR, f"student id {printable(student)!r} has characters that are not "
                   f"allowed (letters, digits and . _ @ - only); {what}", source or printable(student))


def _unwrap(folder: Path) -> Path:
    """Skip a single wrapping folder (and macOS metadata) that zip tools add."""
    entries = [p for p in folder.iterdir() if p.name not in ("__MACOSX", ".DS_Store")]
    if len(entries) == 1 and entries[0].is_dir() and not _looks_like_student(entries[0]):
        return _unwrap(entries[0])
    return folder


def _looks_like_student(folder: Path) -> bool:
    return any(p.is_dir() and any(p.glob("*.ipynb")) for p in folder.iterdir()) if folder.is_dir() else False


@dataclass
class Found:
    """What a submissions folder holds, by student id (see submission_names for how names map)."""
    files: dict[str, list[Path]] = field(default_factory=dict)  # student -> notebooks to choose from
    flat: set[str] = field(default_factory=set)  # handed in as a file: its stem is no notebook name
    sources: dict[str, str] = field(default_factory=dict)  # student -> the name it was handed in under
    notes: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


_HAND_IN = "hand in {notebook}.ipynb, the notebook itself (in Jupyter: File > Download, or Save and Export As > Notebook)"


def find_submissions(root: Path, assignment: str, unpacked: Unpacked | None = None, notebook: str | None = None
                     ) -> Found:
    """Every entry of root, accounted for: a student's notebooks, a note, or a Problem.

    A student found twice (alice.ipynb beside alice/, `Alice Smith.ipynb` beside alice_smith.ipynb)
    or whose files include a link is a Problem and has no files; several browser uploads of one
    file (`bob.ipynb`, `bob (1).ipynb`) are one student, the highest number graded; a file that
    is not a notebook is a note beside the student's notebook, else a Problem of its own."""
    notebook = notebook or assignment
    entries: dict[str, list[tuple[int, Path]]] = {}
    others: dict[str, list[str]] = {}  # files that are not notebooks, by the student their name gives
    refused: dict[str, str] = {}
    result = Found()
    for entry in sorted(root.iterdir()):
        if entry.name in JUNK or entry.name.startswith("._"):
            continue
        is_notebook = entry.suffix.lower() == ".ipynb"
        why = unpacked.reason(entry) if unpacked else ""
        if why:
            student = student_of_file(entry.stem, notebook)[0] if is_notebook else student_of_folder(entry.name)
            refused.setdefault(student, why)
            entries.setdefault(student, []).append((0, entry))
            continue
        if entry.name.startswith(".") and (entry.is_dir() and not any(entry.rglob("*.ipynb"))
                                           or entry.is_file() and not is_notebook):
            continue  # .git, .gitignore and the like; a dot-named notebook or folder of notebooks is reported below
        if entry.is_file() and is_notebook:
            student, number = student_of_file(entry.stem, notebook)
            entries.setdefault(student, []).append((number, entry))
        elif entry.is_dir():
            entries.setdefault(student_of_folder(entry.name), []).append((0, entry))
        elif entry.is_file():
            others.setdefault(student_of_file(entry.stem, notebook)[0], []).append(entry.name)
    for student in sorted(set(entries) | set(others)):
        problem = _account_for(result, root, student, entries.get(student, []), others.get(student, []),
                               refused.get(student, ""), assignment, notebook, unpacked)
        if problem:
            result.problems.append(problem)
            result.files.pop(student, None)
            result.flat.discard(student)
    return result


def _account_for(result: Found, root: Path, student: str, entries: list[tuple[int, Path]], others: list[str],
                 refused: str, assignment: str, notebook: str, unpacked: Unpacked | None) -> Problem | None:
    """Record one student's entries in result; the Problem that stops them being graded, if any."""
    names = [e.name + ("/" if e.is_dir() else "") for _, e in entries]
    source = printable(", ".join(names + others))
    if not entries:  # only files that are not notebooks
        what = "; ".join(f"{printable(n)} is {kind_of(n)}, not a notebook" for n in others)
        return Problem(printable(student), Status.ERROR, f"{what}, so nothing was graded; "
                       + _HAND_IN.format(notebook=notebook), source)
    if not STUDENT_ID.match(student) or student in (".", ".."):
        return bad_id_problem(student, source=source)
    if refused:
        return Problem(student, Status.ERROR, refused, source)
    uploads = sorted(entries, key=lambda e: e[0])
    copies = len({upload_number(e.stem)[0] for _, e in entries}) == 1 and len({n for n, _ in entries}) == len(entries)
    if len(entries) > 1 and (not copies or any(e.is_dir() for _, e in entries)):
        return Problem(student, Status.ERROR, f"two submissions for {student}: "
                       f"{' and '.join(printable(n) for n in names)}; keep one and grade again", source)
    number, entry = uploads[-1]
    notes = []
    if len(uploads) > 1:
        earlier = ", ".join(printable(e.name) for _, e in uploads[:-1])
        notes.append(f"graded {printable(entry.name)}, the latest of {len(uploads)} uploads (browser copy number "
                     f"{number}); not graded: {earlier}")
    if others:
        notes.append(f"also handed in {', '.join(printable(n) for n in others)} (not a notebook; not graded)")
    if entry.is_dir():
        linked = [p for p in sorted(entry.rglob("*")) if unpacked and unpacked.reason(p)]
        if linked:
            return Problem(student, Status.ERROR, unpacked.reason(linked[0]), source)
        folder = entry / assignment if (entry / assignment).is_dir() else entry
        files = sorted(folder.glob("*.ipynb"))
        below = [p for p in sorted(entry.rglob("*")) if p.is_file() and p.name not in JUNK]
        if not files and below and not any(p.suffix.lower() == ".ipynb" for p in below):
            held = ", ".join(printable(p.relative_to(entry).as_posix()) for p in below[:5])
            return Problem(student, Status.ERROR, f"{printable(entry.name)}/ holds {held} but no notebook, so nothing "
                           f"was graded; hand in {assignment}/{notebook}.ipynb in the folder", source)
        result.files[student] = files
    else:
        result.files[student] = [entry]
        result.flat.add(student)
    result.sources[student] = printable(entry.name + ("/" if entry.is_dir() else ""))
    if notes:
        result.notes[student] = "; ".join(notes)
    return None


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
        return None, "", Problem(student, Status.MISSING, f"no notebook found for {student}; "
                                 f"expected {assignment}/{notebook}.ipynb")
    names = ", ".join(printable(f.name) for f in files)
    return None, "", Problem(student, Status.ERROR, f"{student} handed in several notebooks ({names}) and none is named "
                             f"{notebook}.ipynb; keep only the one to grade, named {notebook}.ipynb, and grade again")


#: Where a run keeps what each student handed in (Intake.sources), for CSVs written again later.
SOURCES_FOLDER = "intake"


def write_sources(out: Path, assignment: str, sources: dict[str, str]) -> None:
    path = Path(out) / SOURCES_FOLDER / f"{assignment}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sources, ensure_ascii=False, sort_keys=True, indent=1), encoding="utf-8")


def read_sources(out: Path, assignment: str) -> dict[str, str]:
    """{student: what they handed in} as the last `grade` of assignment in out took it in; {} if none."""
    try:
        data = json.loads((Path(out) / SOURCES_FOLDER / f"{assignment}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def check_submissions(submissions: Path) -> None:
    """IntakeError unless submissions is a folder, a .zip or one notebook: said before OUT is made."""
    submissions = Path(submissions)
    if not submissions.exists():
        raise IntakeError(f"{printable(submissions)} does not exist; pass a folder of notebooks or a .zip")
    if submissions.is_file() and submissions.suffix.lower() not in (".zip", ".ipynb"):
        raise IntakeError(f"{printable(submissions)} is {kind_of(submissions.name)}, not a folder, a .zip or a "
                          "notebook; pass the folder (or .zip) of the class's notebooks")


def take_in(submissions: Path, assignment: str, notebook: str, course: Path, roster: Path | None = None) -> Intake:
    """Copy every gradable notebook into course/submitted/<student>/<assignment>/<notebook>.ipynb.

    A single notebook is a class of one, its student named by the file (submission_names)."""
    submissions = Path(submissions)
    check_submissions(submissions)
    released = course / "release" / assignment / f"{notebook}.ipynb"
    release = nbformat.read(released, as_version=4) if released.is_file() else None
    with tempfile.TemporaryDirectory(prefix="intake-") as tmp:
        staged = Path(tmp) / "submissions"
        staged.mkdir()
        try:
            if submissions.suffix.lower() == ".ipynb" and submissions.is_file():
                unpacked = copy_file(submissions, staged)
            elif submissions.is_file():
                unpacked = extract_zip(submissions, staged)
            else:
                unpacked = copy_folder(submissions, staged)
        except UnpackError as exc:
            raise IntakeError(str(exc)) from None
        intake = Intake()
        for member, why in unpacked.skipped.items():
            stem = Path(member.replace("\\", "/")).stem or "unnamed"
            intake.problems.append(Problem(printable(stem), Status.ERROR, f"{printable(submissions.name)}: member "
                                           f"{printable(member)!r} {why} and was not unpacked; rebuild the zip from "
                                           "the submissions folder", printable(member)))
        lms = normalize(staged, notebook, roster, Path(tmp), unpacked)
        if lms:
            intake.problems += lms.problems
            intake.notes.update(lms.notes)
        found = find_submissions(lms.root if lms else _unwrap(staged), assignment, None if lms else unpacked,
                                 notebook)
        intake.problems += found.problems
        for student, note in found.notes.items():
            intake.notes[student] = "; ".join(filter(None, [intake.notes.get(student), note]))
        intake.sources.update(found.sources)
        if lms:
            intake.sources.update(lms.sources)
        for student, files in sorted(found.files.items()):
            try:
                _take_one(intake, student, files, notebook, assignment, course, release, student in found.flat)
            except Exception as exc:  # noqa: BLE001 - one hostile file costs only its own student
                intake.students.pop(student, None)
                intake.problems.append(Problem(student, Status.ERROR, f"the submission of {student} could not be taken in "
                                               f"({type(exc).__name__}); re-save the notebook from Jupyter and "
                                               "resubmit", intake.sources.get(student, "")))
    for problem in intake.problems:
        intake.sources.setdefault(problem.student_id, problem.source)
    return intake


def _take_one(intake: Intake, student: str, files: list[Path], notebook: str, assignment: str, course: Path,
              release, flat: bool) -> None:
    path, note, problem = choose_notebook(student, files, notebook, assignment, flat)
    if problem:
        intake.problems.append(problem)
        return
    nb, message = read_notebook(path)
    if nb is None:
        intake.problems.append(Problem(student, Status.ERROR, message))
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
