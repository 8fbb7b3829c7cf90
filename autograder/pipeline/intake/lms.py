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
by its LMS id first; by name only to a roster row that has no id for this LMS, and only when
exactly one LMS user has that name. Without a roster the student id is derived from the LMS id
(`canvas_12345`, `moodle_678`).

Trusted side, and it never guesses: ids come only from the structural part of a name (Canvas's
user id; Moodle's participant folder, or the one participant number of a flat file). The names
a student chose (their file's name, their LMS full name) can never file a submission under
someone else: a flat file whose name holds a second participant pattern, a name that matches
several rows or users, a link among the files: each is refused and reported.

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

from .problems import IntakeError, Problem
from .submission_names import STUDENT_ID
from .unpack import Unpacked
from ...grading.status import Status
from ...untrusted_text import printable

#: Canvas writes the sortable name without underscores, so the first "_" ends it: one parse only.
CANVAS_FILE = re.compile(r"^(?P<name>[^_]*)(?P<late>_late)?_(?P<lms_id>\d+)_(?P<submission>\d+)_(?P<filename>.+)$",
                         re.IGNORECASE)
#: Moodle's participant marker; a name holding it more than once cannot be parsed without a guess.
MOODLE_MARK = re.compile(r"_(?P<lms_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_")
MOODLE_FOLDER = re.compile(r"^(?P<name>.+)_(?P<lms_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_$")
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

    def by_name(self, name: str, layout: str) -> list[RosterEntry]:
        """Rows whose name matches and that have no id for this LMS (an id, when given, decides alone)."""
        keys = name_keys(name)
        return [e for e in self.entries if not e.lms_id(layout) and keys & name_keys(e.name)] if keys else []


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
    shown: str = ""  # how the download names it, for messages (control characters escaped)
    refused: str = ""  # why this file may not be graded (a link), or ""

    def __post_init__(self):
        self.shown = printable(self.shown or self.path.name)

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


def _is_moodle(name: str) -> bool:
    return MOODLE_MARK.search(name) is not None


def _unwrap(folder: Path) -> Path:
    """Skip wrapping folders (one folder and nothing else) that are not a Moodle submission."""
    entries = _entries(folder)
    if len(entries) == 1 and entries[0].is_dir() and not _is_moodle(entries[0].name):
        return _unwrap(entries[0])
    return folder


def _files_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(part in _JUNK or part.startswith(".") for part in p.relative_to(folder).parts))


def _moodle_files(entry: Path, unpacked: Unpacked | None) -> list[LmsFile] | str:
    """The files of one Moodle entry (a participant folder or an older flat file), or why it is refused."""
    why = unpacked.reason(entry) if unpacked else ""
    marks = list(MOODLE_MARK.finditer(entry.name))
    if len(marks) != 1:
        return (f"{printable(entry.name)} names {len(marks)} participants; it cannot be filed without a guess "
                "and was not graded (a file name chosen to look like another participant's?)")
    mark = marks[0]
    name, lms_id = entry.name[:mark.start()].replace("_", " "), mark.group("lms_id")
    filename = entry.name[mark.end():]
    if entry.is_dir():
        if filename:
            return f"{printable(entry.name)} is not named like a Moodle participant folder; not graded"
        return [LmsFile(p, lms_id, name, p.name, shown=f"{entry.name}/{p.relative_to(entry).as_posix()}",
                        refused=unpacked.reason(p) if unpacked else "") for p in _files_below(entry)]
    if why and not filename:  # a participant folder that is a link
        return [LmsFile(entry, lms_id, name, "", refused=why)]
    return [LmsFile(entry, lms_id, name, filename, refused=why)] if filename else []


def scan(folder: Path, unpacked: Unpacked | None = None
         ) -> tuple[str, list[LmsFile], list[str], list[str]] | None:
    """(layout, files, skipped, refused) when folder is a Canvas or Moodle download, else None.

    skipped: entries not named like a submission (notes); refused: entries named so that they
    could belong to more than one participant (problems: never filed under anyone)."""
    entries = _entries(folder)
    if not entries:
        return None
    moodle = [e for e in entries if _is_moodle(e.name)]
    canvas = [e for e in entries if e.is_file() and CANVAS_FILE.match(e.name)]
    files: list[LmsFile] = []
    if moodle and 2 * len(moodle) >= len(entries):
        refused = []
        for entry in moodle:
            found = _moodle_files(entry, unpacked)
            if isinstance(found, str):
                refused.append(found)
            else:
                files += found
        return "moodle", files, [printable(e.name) for e in entries if e not in moodle], refused
    if canvas and 2 * len(canvas) >= len(entries):
        for entry in canvas:
            m = CANVAS_FILE.match(entry.name)
            files.append(LmsFile(entry, m.group("lms_id"), m.group("name"), m.group("filename"),
                                 late=bool(m.group("late")), submission=int(m.group("submission")),
                                 refused=unpacked.reason(entry) if unpacked else ""))
        return "canvas", files, [printable(e.name) for e in entries if e not in canvas], []
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
                if name.is_absolute() or ".." in name.parts or not name.parts:
                    continue
                target = Path(tmp).joinpath(*name.parts)
                try:
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                    else:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.touch()
                except OSError:
                    continue
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
    sources: dict[str, str] = field(default_factory=dict)  # student -> the file graded, as the download names it


def _describe(layout: str, group: list[LmsFile]) -> str:
    first = group[0]
    files = ", ".join(sorted(f.shown for f in group))
    return f"{files} ({LAYOUT_NAMES[layout]} user {first.lms_id}, {printable(first.name)})"


def _match(layout: str, group: list[LmsFile], roster: Roster) -> tuple[list[RosterEntry], str]:
    """(matching roster rows, "id" or "name") for one LMS user's files."""
    first = group[0]
    by_id = roster.by_lms_id(layout, first.lms_id)
    if by_id:
        return by_id, "id"
    return roster.by_name(first.name, layout), "name"


def assign_students(layout: str, by_user: dict[str, list[LmsFile]], roster: Roster | None
                    ) -> tuple[dict[str, list[LmsFile]], list[Problem]]:
    """{student_id: files} for the LMS users the roster identifies without a guess, and problems.

    A user matched by several rows, a row matched by several users (two users giving the same
    name), and a name match to a row that has an id for this LMS are all refused and reported."""
    if roster is None:
        return {f"{layout}_{lms_id}": group for lms_id, group in by_user.items()}, []
    column = ID_COLUMNS[layout][0]
    matched: dict[str, tuple[list[RosterEntry], str]] = {u: _match(layout, g, roster) for u, g in by_user.items()}
    claims: dict[str, list[str]] = {}
    for user, (rows, how) in matched.items():
        if len(rows) == 1:
            claims.setdefault(rows[0].student_id, []).append(user)
    students, problems = {}, []
    for user, group in sorted(by_user.items()):
        rows, how = matched[user]
        standin = f"{layout}_{user}"
        if len(rows) > 1:
            ids = ", ".join(e.student_id for e in rows)
            problems.append(Problem(standin, Status.ERROR, f"{_describe(layout, group)} matches several rows of "
                                    f"{roster.path.name} by {how} ({ids}); give each row its own {column} and "
                                    "grade again"))
        elif not rows:
            problems.append(Problem(standin, Status.ERROR, f"{_describe(layout, group)} matches no row of "
                                    f"{roster.path.name}; add them to the roster (student_id and {column}) and "
                                    "grade again"))
        elif len(claims[rows[0].student_id]) > 1:
            others = ", ".join(f"{LAYOUT_NAMES[layout]} user {u}" for u in claims[rows[0].student_id] if u != user)
            problems.append(Problem(standin, Status.ERROR, f"{_describe(layout, group)} matches {rows[0].student_id} of "
                                    f"{roster.path.name} by name, and so does {others}: which is which cannot be "
                                    f"told from names; add their {column} to the roster and grade again"))
        elif not STUDENT_ID.match(rows[0].student_id):
            problems.append(Problem(standin, Status.ERROR, f"{roster.path.name} gives {_describe(layout, group)} the "
                                    f"student_id {printable(rows[0].student_id)!r}, which has characters that are "
                                    "not allowed (letters, digits and . _ @ - only); fix the roster"))
        else:
            students[rows[0].student_id] = group
    return students, problems


def normalize(top: Path, notebook: str, roster: Path | None, work: Path,
              unpacked: Unpacked | None = None) -> LmsIntake | None:
    """A Canvas or Moodle download in `top` as student folders under `work`; None for other layouts.

    `unpacked` says which entries of top are placeholders for links (see unpack.py)."""
    found = scan(_unwrap(Path(top)), unpacked)
    table = read_roster(roster) if roster else None
    if found is None:
        return None
    layout, files, skipped, refused = found
    staging = Path(tempfile.mkdtemp(prefix="lms-", dir=work))
    result = LmsIntake(layout, staging)
    for name in skipped:
        result.notes[name] = f"not named like a {LAYOUT_NAMES[layout]} submission; skipped"
    by_user: dict[str, list[LmsFile]] = {}
    for f in files:
        by_user.setdefault(f.lms_id, []).append(f)
    by_student, result.problems = assign_students(layout, by_user, table)
    for problem in result.problems:  # a user the roster does not identify: their files, as named
        group = by_user.get(problem.student_id.removeprefix(f"{layout}_"), [])
        problem.source = problem.source or ", ".join(sorted(f.shown for f in group))
    # An entry that cannot be filed has no student: a row of its own (never a gradebook id).
    result.problems += [Problem(f"(unfiled {index})", Status.ERROR, message) for index, message in enumerate(refused, 1)]
    for student, group in sorted(by_student.items()):
        result.sources[student] = ", ".join(sorted(f.shown for f in group))
        linked = [f for f in group if f.refused]
        if linked:
            result.problems.append(Problem(student, Status.ERROR, linked[0].refused))
            continue
        notebooks = [f for f in group if f.filename.lower().endswith(".ipynb")]
        if not notebooks:
            uploaded = ", ".join(sorted(printable(f.filename) for f in group))
            result.problems.append(Problem(student, Status.MISSING, f"{student} uploaded no notebook ({uploaded}); "
                                           f"expected {notebook}.ipynb"))
            continue
        expected = [f for f in notebooks if f.base == notebook]
        if not expected and len(notebooks) > 1:
            names = ", ".join(sorted(printable(f.filename) for f in notebooks))
            result.problems.append(Problem(student, Status.ERROR, f"{student} uploaded several notebooks ({names}) and "
                                           f"none is named {notebook}.ipynb; which to grade cannot be told"))
            continue
        chosen = max(expected or notebooks, key=lambda f: (f.version, f.submission, f.filename))
        name = f"{notebook}.ipynb" if chosen.base == notebook else "submission.ipynb"
        dest = staging / student / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(chosen.path, dest)
        result.sources[student] = chosen.shown
        notes = []
        if chosen.base != notebook:
            notes.append(f"graded {printable(chosen.filename)} (expected {notebook}.ipynb)")
        if len(notebooks) > 1:
            others = ", ".join(sorted(printable(f.filename) for f in notebooks if f is not chosen))
            notes.append(f"graded {printable(chosen.filename)}; also uploaded {others} (not graded)")
        if chosen.late:
            notes.append(f"{LAYOUT_NAMES[layout]} marked the submission LATE")
        if notes:
            result.notes[student] = "; ".join(notes)
    return result
