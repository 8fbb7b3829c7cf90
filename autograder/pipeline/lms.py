"""Canvas and Moodle submission downloads, and the roster that maps them to student ids.

Recognised layouts (detected from the names; a wrapping folder is fine):

- Canvas, "Download Submissions": flat files `<lastfirst>_<user id>_<submission id>_<file>`,
  late ones `<lastfirst>_LATE_<user id>_<submission id>_<file>`; a re-upload of the same file
  name gets `-1`, `-2` before the extension (`gradient_checking-1.ipynb`).
- Moodle, assignment "Download all submissions": folders
  `<Full Name>_<participant id>_assignsubmission_file_/<file>`, or (older Moodle) flat files
  `<Full Name>_<participant id>_assignsubmission_file_<file>`.

The roster is a CSV with a `student_id` column and at least one of `canvas_id`, `moodle_id`,
`lms_id` (the number in the download's names) or `name`; optional columns (`email`,
`sis_user_id`, `sis_login_id`, `section`) are used by the grade export. A submission is matched
by its LMS id first, then by name. Without a roster the student id is derived from the LMS id
(`canvas_12345`, `moodle_678`).

`normalize` turns such a download into a folder of `<student_id>/<notebook>.ipynb`, which the
intake then reads like any other. Nothing here raises for one bad or unknown file: it becomes a
Problem (or a note) that names the file and says what to do.
"""
from __future__ import annotations

import csv
import re
import shutil
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .intake import STUDENT_ID, IntakeError, Problem

CANVAS_FILE = re.compile(r"^(?P<name>.+?)(?P<late>_late)?_(?P<lms_id>\d+)_(?P<submission>\d+)_(?P<filename>.+)$",
                         re.IGNORECASE)
MOODLE_ENTRY = re.compile(r"^(?P<name>.+)_(?P<lms_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<filename>.*)$")
#: Canvas's suffix for a re-upload of a file name the student had uploaded before.
REUPLOAD = re.compile(r"^(?P<base>.+?)-(?P<version>\d+)$")
#: Roster columns that hold the LMS's own id of a student, per layout, in order of preference.
ID_COLUMNS = {"canvas": ("canvas_id", "lms_id"), "moodle": ("moodle_id", "lms_id")}
LAYOUT_NAMES = {"canvas": "Canvas", "moodle": "Moodle"}
_JUNK = {"__MACOSX", ".DS_Store", "Thumbs.db"}


class RosterError(IntakeError):
    """The roster cannot be used (missing, unreadable, no student_id column); says what to fix."""


# -- the roster -------------------------------------------------------------------------------

def _column(header: str) -> str:
    return re.sub(r"[\s-]+", "_", header.strip().lower())


def _lms_id(value: str) -> str:
    """An LMS id as it appears in download names: "Participant 123" (Moodle's worksheet) -> "123"."""
    value = (value or "").strip()
    match = re.fullmatch(r"(?i)participant\s*(\d+)", value)
    return match.group(1) if match else value


def name_keys(name: str) -> set[str]:
    """Ways an LMS writes a name in file names: letters and digits only, lower case, any rotation.

    "Doe, John", "John Doe" and Canvas's "doejohn" share the key "doejohn".
    """
    plain = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode().lower()
    parts = re.findall(r"[a-z0-9]+", plain)
    return {"".join(parts[i:] + parts[:i]) for i in range(len(parts))}


@dataclass
class RosterEntry:
    student_id: str
    name: str
    fields: dict[str, str]  # the whole row, by normalised column name

    def lms_id(self, layout: str) -> str:
        return next((_lms_id(self.fields[c]) for c in ID_COLUMNS.get(layout, ()) if self.fields.get(c)), "")


@dataclass
class Roster:
    path: Path
    entries: list[RosterEntry]
    columns: list[str]

    def get(self, student_id: str) -> RosterEntry | None:
        return next((e for e in self.entries if e.student_id == student_id), None)

    def by_lms_id(self, layout: str, lms_id: str) -> list[RosterEntry]:
        return [e for e in self.entries if e.lms_id(layout) == lms_id]

    def by_name(self, name: str) -> list[RosterEntry]:
        keys = name_keys(name)
        return [e for e in self.entries if keys & name_keys(e.name)] if keys else []


def read_roster(path: Path) -> Roster:
    """Read the roster CSV; RosterError names the file and the column or row that is wrong."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [_column(c) for c in reader.fieldnames or []]
            rows = [{_column(k): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except OSError as exc:
        raise RosterError(f"cannot read the roster {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RosterError(f"{path} is not a UTF-8 CSV file ({exc}); save it as CSV UTF-8") from None
    if "student_id" not in columns or not {"canvas_id", "moodle_id", "lms_id", "name"} & set(columns):
        raise RosterError(f"{path}: a roster needs a student_id column and one of canvas_id, moodle_id, lms_id "
                          f"or name (its columns: {', '.join(columns) or 'none'})")
    entries, seen = [], {}
    for line, row in enumerate(rows, 2):
        student = row.get("student_id", "")
        if not student:
            continue
        if student in seen:
            raise RosterError(f"{path}: student_id {student!r} is on lines {seen[student]} and {line}; "
                              "keep one row per student")
        seen[student] = line
        entries.append(RosterEntry(student, row.get("name", ""), row))
    return Roster(path, entries, columns)


# -- the layouts ------------------------------------------------------------------------------

@dataclass
class LmsFile:
    """One file of an LMS download, with what its name says about it."""
    path: Path
    lms_id: str
    name: str
    filename: str  # the name the student uploaded (Canvas's -N re-upload suffix included)
    late: bool = False
    submission: int = 0
    shown: str = ""  # how the download names it, for messages

    def __post_init__(self):
        self.shown = self.shown or self.path.name

    @property
    def base(self) -> str:
        """The file's stem without Canvas's re-upload suffix."""
        stem = PurePosixPath(self.filename).stem
        match = REUPLOAD.match(stem)
        return match.group("base") if match else stem

    @property
    def version(self) -> int:
        match = REUPLOAD.match(PurePosixPath(self.filename).stem)
        return int(match.group("version")) if match else 0


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name not in _JUNK and not p.name.startswith("."))


def _unwrap(folder: Path) -> Path:
    """Skip wrapping folders (one folder and nothing else) that are not a Moodle submission."""
    entries = _entries(folder)
    if len(entries) == 1 and entries[0].is_dir() and not MOODLE_ENTRY.match(entries[0].name):
        return _unwrap(entries[0])
    return folder


def _files_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(part in _JUNK or part.startswith(".") for part in p.relative_to(folder).parts))


def scan(folder: Path) -> tuple[str, list[LmsFile], list[str]] | None:
    """(layout, files, names not recognised) when folder is a Canvas or Moodle download, else None."""
    entries = _entries(folder)
    if not entries:
        return None
    moodle = [e for e in entries if MOODLE_ENTRY.match(e.name)]
    canvas = [e for e in entries if e.is_file() and CANVAS_FILE.match(e.name)]
    files: list[LmsFile] = []
    if moodle and 2 * len(moodle) >= len(entries):
        for entry in moodle:
            m = MOODLE_ENTRY.match(entry.name)
            name = m.group("name").replace("_", " ")
            if entry.is_dir():
                files += [LmsFile(p, m.group("lms_id"), name, p.name,
                                  shown=f"{entry.name}/{p.relative_to(entry).as_posix()}") for p in _files_below(entry)]
            elif m.group("filename"):
                files.append(LmsFile(entry, m.group("lms_id"), name, m.group("filename")))
        return "moodle", files, [e.name for e in entries if e not in moodle]
    if canvas and 2 * len(canvas) >= len(entries):
        for entry in canvas:
            m = CANVAS_FILE.match(entry.name)
            files.append(LmsFile(entry, m.group("lms_id"), m.group("name"), m.group("filename"),
                                 late=bool(m.group("late")), submission=int(m.group("submission"))))
        return "canvas", files, [e.name for e in entries if e not in canvas]
    return None


def layout_of(submissions: Path) -> str | None:
    """"canvas", "moodle" or None for a folder or .zip of submissions, from the names alone."""
    submissions = Path(submissions)
    try:
        if submissions.is_dir():
            found = scan(_unwrap(submissions))
            return found[0] if found else None
        with zipfile.ZipFile(submissions) as zf, tempfile.TemporaryDirectory(prefix="lms-names-") as tmp:
            for info in zf.infolist():  # empty stand-ins with the members' names: enough to detect
                name = PurePosixPath(info.filename.replace("\\", "/"))
                if name.is_absolute() or ".." in name.parts:
                    continue
                target = Path(tmp).joinpath(*name.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.touch()
            found = scan(_unwrap(Path(tmp)))
            return found[0] if found else None
    except (OSError, zipfile.BadZipFile):
        return None


# -- from a download to student folders -------------------------------------------------------

@dataclass
class LmsIntake:
    layout: str
    root: Path  # <root>/<student_id>/<notebook>.ipynb, ready for the intake
    problems: list[Problem] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)


def _student_for(layout: str, group: list[LmsFile], roster: Roster | None) -> tuple[str, str]:
    """(student_id, "") for one LMS user's files, or (a stand-in id, why there is none)."""
    first = group[0]
    standin = f"{layout}_{first.lms_id}"
    if roster is None:
        return standin, ""
    files = ", ".join(sorted(f.shown for f in group))
    matches = roster.by_lms_id(layout, first.lms_id) or roster.by_name(first.name)
    if len(matches) > 1:
        ids = ", ".join(e.student_id for e in matches)
        return standin, (f"{files} ({LAYOUT_NAMES[layout]} user {first.lms_id}, {first.name}) matches several rows "
                         f"of {roster.path.name} by name ({ids}); add their {ID_COLUMNS[layout][0]} to the roster "
                         "and grade again")
    if not matches:
        return standin, (f"{files} ({LAYOUT_NAMES[layout]} user {first.lms_id}, {first.name}) matches no row of "
                         f"{roster.path.name}; add them to the roster (student_id and {ID_COLUMNS[layout][0]}) "
                         "and grade again")
    student = matches[0].student_id
    if not STUDENT_ID.match(student):
        return standin, (f"{roster.path.name} gives {files} the student_id {student!r}, which has characters "
                         "that are not allowed (letters, digits and . _ @ - only); fix the roster")
    return student, ""


def normalize(top: Path, notebook: str, roster: Path | None, work: Path) -> LmsIntake | None:
    """A Canvas or Moodle download in `top` as student folders under `work`; None for other layouts."""
    found = scan(_unwrap(Path(top)))
    table = read_roster(roster) if roster else None
    if found is None:
        return None
    layout, files, unknown = found
    staging = Path(tempfile.mkdtemp(prefix="lms-", dir=work))
    result = LmsIntake(layout, staging)
    for name in unknown:
        result.notes[name] = f"not named like a {LAYOUT_NAMES[layout]} submission; skipped"
    by_user: dict[str, list[LmsFile]] = {}
    for f in files:
        by_user.setdefault(f.lms_id, []).append(f)
    by_student: dict[str, list[LmsFile]] = {}
    for lms_id, group in sorted(by_user.items()):
        student, problem = _student_for(layout, group, table)
        if problem:
            result.problems.append(Problem(student, "error", problem))
        else:
            by_student.setdefault(student, []).extend(group)
    for student, group in sorted(by_student.items()):
        notebooks = [f for f in group if f.filename.lower().endswith(".ipynb")]
        if not notebooks:
            uploaded = ", ".join(sorted(f.filename for f in group))
            result.problems.append(Problem(student, "missing", f"{student} uploaded no notebook ({uploaded}); "
                                           f"expected {notebook}.ipynb"))
            continue
        chosen = max(notebooks, key=lambda f: (f.base == notebook, f.version, f.submission, f.filename))
        name = f"{notebook}.ipynb" if chosen.base == notebook else (chosen.filename.lstrip(".") or "submission.ipynb")
        dest = staging / student / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(chosen.path, dest)
        notes = []
        if len(notebooks) > 1:
            others = ", ".join(sorted(f.filename for f in notebooks if f is not chosen))
            notes.append(f"graded {chosen.filename}; also uploaded {others} (not graded)")
        if chosen.late:
            notes.append(f"{LAYOUT_NAMES[layout]} marked the submission LATE")
        if notes:
            result.notes[student] = "; ".join(notes)
    return result
