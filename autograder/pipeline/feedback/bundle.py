"""What an LMS takes back: each student's feedback pages as a zip, and Moodle's feedback-files zip.

Trusted side: reads the pages the kit wrote in OUT/feedback/<student>/<assignment>/ (plain files
only, links skipped) and writes OUT/feedback-bundle/<assignment>/:

    students/<student>.zip    the student's pages, <assignment>/<notebook>.html: one file each,
                              math and styles inside, nothing else needed
    moodle-feedback-files.zip for Moodle's "Upload multiple feedback files in a zip": a folder
                              per participant, `<Full Name>_<participant id>_assignfeedback_file_/`,
                              holding the page (Moodle finds the participant by the number after
                              the first "_", so the name is written without underscores)

A Moodle participant is known from the roster (moodle_id, name: pass the roster `grade` had) or,
graded without one, from the student id intake/lms.py gave (`moodle_<participant id>`). Canvas has no
feedback-file bulk upload of its own: hand back its pages from students/.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..intake.intake import read_sources
from ..intake.submission_names import STUDENT_ID
from ..intake.lms import MOODLE_MARK, read_roster

BUNDLE_FOLDER = "feedback-bundle"
MOODLE_ZIP = "moodle-feedback-files.zip"
#: The student id intake/lms.py gives a Moodle participant when there is no roster.
MOODLE_ID = re.compile(r"^moodle_(\d+)$")
#: A fixed timestamp for every member: the same pages make the same zips.
STAMP = (2020, 1, 1, 0, 0, 0)


class BundleError(Exception):
    """Nothing to bundle (no feedback for the assignment); the message says what to run."""


@dataclass
class Bundle:
    folder: Path
    students: dict[str, Path] = field(default_factory=dict)  # student -> their zip
    moodle: Path | None = None
    not_in_moodle: list[str] = field(default_factory=list)  # students with pages but no participant id


def pages_of(out: Path, assignment: str) -> dict[str, list[Path]]:
    """{student: their feedback pages for assignment}, as `grade` and generate_feedback wrote them."""
    feedback = Path(out) / "feedback"
    found: dict[str, list[Path]] = {}
    if not feedback.is_dir():
        return found
    for student in sorted(feedback.iterdir()):
        folder = student / assignment
        if not STUDENT_ID.match(student.name) or student.is_symlink() or not folder.is_dir() or folder.is_symlink():
            continue
        pages = sorted(p for p in folder.glob("*.html") if p.is_file() and not p.is_symlink())
        if pages:
            found[student.name] = pages
    return found


def moodle_participants(out: Path, assignment: str, roster: Path | None) -> dict[str, tuple[str, str]]:
    """{student: (full name, participant id)}: from the roster's moodle_id, or from the id itself
    (`moodle_123`, a Moodle download graded without a roster). Never from a name a student chose:
    the full name is taken from their download's folder only when it carries the same number."""
    known: dict[str, tuple[str, str]] = {}
    sources = read_sources(out, assignment)
    for student in pages_of(out, assignment):
        match = MOODLE_ID.match(student)
        if match:
            marks = list(MOODLE_MARK.finditer(sources.get(student, "")))
            same = len(marks) == 1 and marks[0].group("lms_id") == match.group(1)
            known[student] = (sources[student][:marks[0].start()] if same else student, match.group(1))
    if roster:
        for entry in read_roster(roster).entries:
            participant = entry.lms_id("moodle")
            if participant.isdigit():
                known[entry.student_id] = (entry.name or entry.student_id, participant)
    return known


def _add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=STAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o100644 << 16
    zf.writestr(info, data)


def _moodle_name(name: str) -> str:
    """A full name as a Moodle folder name's first part: no "_" (it ends the name) and no "/"."""
    return " ".join(name.replace("_", " ").replace("/", " ").replace("\\", " ").split()) or "participant"


def write_bundle(out: Path, assignment: str, roster: Path | None = None) -> Bundle:
    """Write OUT/feedback-bundle/<assignment>/ (see the module's docstring); what was written."""
    out = Path(out)
    pages = pages_of(out, assignment)
    if not pages:
        raise BundleError(f"no feedback pages for {assignment} in {out / 'feedback'}; grade the class into "
                          f"{out} first (./kit grade SUBMISSIONS --assignment {assignment} --out {out})")
    bundle = Bundle(out / BUNDLE_FOLDER / assignment)
    (bundle.folder / "students").mkdir(parents=True, exist_ok=True)
    for student, files in pages.items():
        target = bundle.folder / "students" / f"{student}.zip"
        with zipfile.ZipFile(target, "w") as zf:
            for page in files:
                _add(zf, f"{assignment}/{page.name}", page.read_bytes())
        bundle.students[student] = target
    participants = moodle_participants(out, assignment, roster)
    moodle = [s for s in pages if s in participants]
    bundle.not_in_moodle = [s for s in pages if s not in participants]
    if moodle:
        bundle.moodle = bundle.folder / MOODLE_ZIP
        with zipfile.ZipFile(bundle.moodle, "w") as zf:
            for student in moodle:
                name, participant = participants[student]
                for page in pages[student]:
                    _add(zf, f"{_moodle_name(name)}_{participant}_assignfeedback_file_/{page.stem}-feedback.html",
                         page.read_bytes())
    return bundle
