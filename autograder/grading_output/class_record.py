"""What `grade` knows of one assignment in OUT beyond the gradebook (trusted side), written by the
process running `grade` (the gradebook's one writer) to OUT/.autograder/<assignment>.json.

For each student of the last run: the hash of the notebook graded, and a status and message when
no judge's verdict decided the grade (refused at intake: error or missing; a worker that failed:
error or timeout); the manual grades a grader gave to an earlier notebook of theirs (see
manual_review.py); and how the LMS file was asked for, so `export` writes it again. The scores are
never here: they are the gradebook's."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..course.manifest import KIT_FOLDER


@dataclass
class StudentEntry:
    sha256: str = ""  # of the file handed in and graded last ("" when none could be read)
    status: str = ""  # error, timeout or missing when no verdict decided the grade; "" when the judge did
    message: str = ""
    #: grade or comment cell name -> {"manual_score": x} / {"manual_comment": text}: given by a grader
    #: to an earlier notebook than the one graded last, unchanged since.
    earlier_manual: dict[str, dict] = field(default_factory=dict)


@dataclass
class ClassRecord:
    assignment: str
    db_url: str = ""  # without a password (gradebook.password_to_environment); "" for OUT/gradebook.db
    students: dict[str, StudentEntry] = field(default_factory=dict)
    lms: dict = field(default_factory=dict)  # {"flavor", "roster", "column"} when an LMS file was asked for


def gradebook_url(out: Path, record: ClassRecord) -> str:
    """The gradebook the record's grades are in: its URL, or OUT's own SQLite file (OUT may have moved)."""
    from ..pipeline.gradebook.store import sqlite_url
    return record.db_url or sqlite_url(Path(out) / "gradebook.db")


def stored_url(out: Path, db_url: str) -> str:
    """What the record keeps of a run's gradebook URL: "" for OUT's own SQLite file."""
    from ..pipeline.gradebook.store import sqlite_url
    return "" if db_url == sqlite_url(Path(out) / "gradebook.db") else db_url


def path(out: Path, assignment: str) -> Path:
    return Path(out) / KIT_FOLDER / f"{assignment}.json"


def read(out: Path, assignment: str) -> ClassRecord | None:
    """The assignment's record in OUT, or None when `grade` never recorded it there."""
    try:
        data = json.loads(path(out, assignment).read_text(encoding="utf-8"))
        students = {s: StudentEntry(**e) for s, e in data.pop("students", {}).items()}
        return ClassRecord(students=students, **data)
    except (OSError, ValueError, TypeError):
        return None


def write(out: Path, record: ClassRecord) -> Path:
    target = path(out, record.assignment)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(record), indent=1, sort_keys=True), encoding="utf-8")
    partial.replace(target)  # never half a record
    return target


def assignments(out: Path) -> list[str]:
    """Every assignment `grade` recorded in OUT."""
    return sorted(p.stem for p in (Path(out) / KIT_FOLDER).glob("*.json"))
