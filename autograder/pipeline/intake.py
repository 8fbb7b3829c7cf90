"""Turn what an instructor hands in (a folder or an LMS zip) into nbgrader's submitted/ layout.

Accepted: `<student_id>/<assignment>/<notebook>.ipynb` (nbgrader's own layout), a folder of
`<student_id>.ipynb` files, or a .zip of either (one wrapping top folder is fine); also Canvas's
and Moodle's submission downloads, mapped to student ids through a roster (see lms.py). Every file
that cannot be graded becomes a Problem naming the file and what to do; nothing here raises
for one bad submission.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

from .repair import repair_metadata

#: Student ids become folder names: letters, digits and . _ @ - only, no leading dot.
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
#: A notebook larger than this is refused before parsing (outputs are cleared on submission).
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
#: An archive that unpacks to more than this is refused (zip bombs).
MAX_UNPACKED_BYTES = 2 * 1024 * 1024 * 1024


#: Files that zip tools and Jupyter leave behind; never submissions.
JUNK = {"__MACOSX", ".DS_Store", ".ipynb_checkpoints", "Thumbs.db"}


class IntakeError(Exception):
    """The submissions as a whole cannot be read (a missing path, a corrupt zip)."""


@dataclass
class Problem:
    student_id: str
    status: str  # "error" or "missing"
    message: str


@dataclass
class Intake:
    students: dict[str, Path] = field(default_factory=dict)  # student -> submitted notebook
    sha256: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)


def safe_extract(archive: Path, dest: Path) -> list[str]:
    """Unpack a zip, skipping members that would land outside dest and links; refusing zip bombs.

    Returns the names of the members it refused, for the report."""
    refused = []
    try:
        with zipfile.ZipFile(archive) as zf:
            total = 0
            for info in zf.infolist():
                name = PurePosixPath(info.filename.replace("\\", "/"))
                if name.is_absolute() or ".." in name.parts:
                    refused.append(info.filename)
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    continue
                total += info.file_size
                if total > MAX_UNPACKED_BYTES:
                    raise IntakeError(f"{archive}: unpacks to more than {MAX_UNPACKED_BYTES >> 30} GiB")
                target = dest.joinpath(*name.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    except zipfile.BadZipFile as exc:
        raise IntakeError(f"{archive}: not a readable zip ({exc}); export it again from the LMS") from None
    return refused


def _unwrap(folder: Path) -> Path:
    """Skip a single wrapping folder (and macOS metadata) that zip tools add."""
    entries = [p for p in folder.iterdir() if p.name not in ("__MACOSX", ".DS_Store")]
    if len(entries) == 1 and entries[0].is_dir() and not _looks_like_student(entries[0]):
        return _unwrap(entries[0])
    return folder


def _looks_like_student(folder: Path) -> bool:
    return any(p.is_dir() and any(p.glob("*.ipynb")) for p in folder.iterdir()) if folder.is_dir() else False


def find_submissions(root: Path, assignment: str) -> tuple[dict[str, list[Path]], set[str], list[Problem]]:
    """{student_id: [notebook files]} from either layout, the flat-layout ids, and problems."""
    found: dict[str, list[Path]] = {}
    problems: list[Problem] = []
    flat: set[str] = set()  # students whose file name is their id: its stem is not a notebook name
    for entry in sorted(root.iterdir()):
        if entry.name in JUNK or entry.name.startswith("._"):
            continue
        if entry.name.startswith(".") and entry.is_dir() and not any(entry.rglob("*.ipynb")):
            continue  # .git and the like; a dot-named notebook or folder of notebooks is reported below
        if entry.is_file() and entry.suffix == ".ipynb":
            found.setdefault(entry.stem, []).append(entry)
            flat.add(entry.stem)
        elif entry.is_dir():
            folder = entry / assignment if (entry / assignment).is_dir() else entry
            found.setdefault(entry.name, []).extend(sorted(folder.glob("*.ipynb")))
    for student in list(found):
        if not STUDENT_ID.match(student) or student in (".", ".."):
            problems.append(Problem(student, "error", f"student id {student!r} has characters that are not "
                                    "allowed (letters, digits and . _ @ - only); rename the file or folder"))
            del found[student]
    return found, flat, problems


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook, or None and a message that says what is wrong and what to do."""
    size = path.stat().st_size
    if size == 0:
        return None, f"{path.name} is empty; the student should save the notebook in Jupyter and resubmit"
    if size > MAX_NOTEBOOK_BYTES:
        return None, (f"{path.name} is {size / 2**20:.0f} MB (limit {MAX_NOTEBOOK_BYTES >> 20} MB); "
                      "clear all outputs (Kernel > Restart & Clear Output), save and resubmit")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"{path.name} is not UTF-8 text (byte {exc.start}); re-save it from Jupyter and resubmit"
    try:
        json.loads(text)
    except ValueError as exc:
        return None, (f"{path.name} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}; "
                      "was the upload cut off?); re-save it from Jupyter and resubmit")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several kinds for a malformed notebook
        return None, f"{path.name} is not a notebook ({str(exc).splitlines()[0][:200]}); re-save it from Jupyter and resubmit"
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        return None, f"{path.name} does not follow the notebook format ({exc.message[:200]}); re-save it from Jupyter and resubmit"
    return nb, ""


def take_in(submissions: Path, assignment: str, notebook: str, course: Path, roster: Path | None = None) -> Intake:
    """Copy every gradable notebook into course/submitted/<student>/<assignment>/<notebook>.ipynb."""
    submissions = Path(submissions)
    if not submissions.exists():
        raise IntakeError(f"{submissions} does not exist; pass a folder of notebooks or a .zip")
    released = course / "release" / assignment / f"{notebook}.ipynb"
    release = nbformat.read(released, as_version=4) if released.is_file() else None
    with tempfile.TemporaryDirectory(prefix="intake-") as tmp:
        if submissions.is_file():
            if submissions.suffix.lower() != ".zip":
                raise IntakeError(f"{submissions} is a file but not a .zip; pass a folder or a .zip")
            refused = safe_extract(submissions, Path(tmp))
        else:
            refused = []
        top = Path(tmp) if submissions.is_file() else submissions
        from .lms import normalize  # a Canvas or Moodle download becomes <student_id>/ folders (roster)
        lms = normalize(top, notebook, roster, Path(tmp))
        root = lms.root if lms else _unwrap(top)
        found, flat, problems = find_submissions(root, assignment)
        intake = Intake(problems=problems + (lms.problems if lms else []), notes=dict(lms.notes) if lms else {})
        for member in refused:
            stem = PurePosixPath(member.replace("\\", "/")).stem or "unnamed"
            intake.problems.append(Problem(stem, "error", f"{submissions.name}: member {member!r} would be written "
                                           "outside the folder and was not unpacked; rebuild the zip from the "
                                           "submissions folder"))
        for student, files in sorted(found.items()):
            chosen = [f for f in files if f.stem == notebook] or files
            if not chosen:
                intake.problems.append(Problem(student, "missing", f"no notebook found for {student}; "
                                               f"expected {assignment}/{notebook}.ipynb"))
                continue
            path = chosen[0]
            if path.stem != notebook and student not in flat:
                intake.notes[student] = f"graded {path.name} (expected {notebook}.ipynb)"
            nb, message = read_notebook(path)
            if nb is None:
                intake.problems.append(Problem(student, "error", message))
                continue
            if release is not None:
                repaired = repair_metadata(nb, release)
                if repaired:
                    intake.notes[student] = "; ".join(filter(None, [intake.notes.get(student), *repaired]))
            dest = course / "submitted" / student / assignment / f"{notebook}.ipynb"
            dest.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(dest))
            stamp = path.parent / "timestamp.txt"
            if stamp.is_file():
                shutil.copy2(stamp, dest.parent / "timestamp.txt")
            intake.students[student] = dest
            intake.sha256[student] = hashlib.sha256(path.read_bytes()).hexdigest()
    return intake
