"""Grades in a CSV the LMS imports back: lms_grades_<assignment>.csv, a row per roster student.

- Canvas: the Gradebook's import format, `Student, ID, SIS User ID, SIS Login ID, Section,
  <assignment>`, then a "Points Possible" row. ID is the Canvas user id (roster `canvas_id` or
  `lms_id`, or the number in a `canvas_<id>` student id); the SIS columns and Section come from the
  roster's `sis_user_id`, `sis_login_id` and `section` when it has them. Canvas matches students
  on ID and adds the column as a new assignment, unless the header names an existing one as
  `Name (assignment id)` (Canvas's own export shows it; pass it with --lms-column).
- Moodle: the assignment's grading worksheet, `Identifier, ID number, Full name, Email address,
  Grade, Maximum Grade`. Identifier is `Participant <moodle_id>` (what "Upload grading worksheet"
  matches on); ID number is the roster's student_id and Email address its `email`, for the
  gradebook's CSV import (Grades > Import > CSV file, map "ID number" or "Email address").

With a roster, every roster student gets a row: their score, or an empty grade (the LMS leaves it
unchanged) when nothing of theirs was graded. Graded ids that are not in the roster are left out
and returned, so the caller can say so. Without a roster, a row per graded student. Names come
from the LMS, where students set them: every cell is neutralised against spreadsheet formulas.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from ..pipeline.intake.lms import Roster, layout_of, read_roster
from .reports import ExerciseRow
from ..untrusted_text import csv_row

FLAVORS = ("canvas", "moodle")
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = ["Identifier", "ID number", "Full name", "Email address", "Grade", "Maximum Grade"]


def file_name(assignment: str) -> str:
    """lms_grades_<assignment>.csv: one per assignment, so assignments graded into one OUT keep theirs."""
    return f"lms_grades_{assignment}.csv" if assignment else "lms_grades.csv"


class ExportError(Exception):
    """The export cannot be written as asked; the message says what to pass instead."""


def choose_flavor(requested: str, roster: Roster | None, submissions: Path | None) -> str:
    """canvas or moodle: as requested, else from the roster's columns, else from the download's names."""
    if requested in FLAVORS:
        return requested
    columns = set(roster.columns) if roster else set()
    if "canvas_id" in columns and "moodle_id" not in columns:
        return "canvas"
    if "moodle_id" in columns and "canvas_id" not in columns:
        return "moodle"
    layout = layout_of(submissions) if submissions else None
    if layout:
        return layout
    raise ExportError("cannot tell whether to export for Canvas or Moodle (the roster has neither a canvas_id nor "
                      "a moodle_id column, and the submissions are not an LMS download); pass --lms-export canvas "
                      "or --lms-export moodle")


def totals(rows: list[ExerciseRow]) -> dict[str, tuple[float, float]]:
    """{student_id: (score, max_score)} over the rows."""
    out: dict[str, list[float]] = {}
    for r in rows:
        t = out.setdefault(r.student_id, [0.0, 0.0])
        t[0] += r.score
        t[1] += r.max_score
    return {s: (t[0], t[1]) for s, t in out.items()}


def _standin_id(student: str, flavor: str) -> str:
    match = re.fullmatch(rf"{flavor}_(\d+)", student)
    return match.group(1) if match else ""


def write_lms_grades(out: Path, rows: list[ExerciseRow], flavor: str, roster: Path | Roster | None = None,
                     column: str = "", assignment: str | None = None) -> tuple[Path, list[str]]:
    """Write out/lms_grades_<assignment>.csv for `flavor`; (its path, graded ids left out as not in the
    roster). The assignment is the rows' when not given."""
    if flavor not in FLAVORS:
        raise ExportError(f"unknown LMS {flavor!r}; choose one of {', '.join(FLAVORS)}")
    table = read_roster(roster) if isinstance(roster, (str, Path)) else roster
    scores = totals(rows)
    maximum = max((m for _, m in scores.values()), default=0.0)
    if table is not None:
        students = [(e.student_id, e.fields) for e in table.entries]
        left_out = sorted(s for s in scores if table.get(s) is None)
    else:
        students = [(s, {}) for s in sorted(scores)]
        left_out = []
    if assignment is None:
        assignment = rows[0].assignment if rows else ""
    path = Path(out) / file_name(assignment)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)

        def writerow(values):
            writer.writerow(csv_row(values))

        if flavor == "canvas":
            writerow(CANVAS_COLUMNS + [column or "Assignment"])
            writerow(["    Points Possible", "", "", "", "", f"{maximum:g}"])
        else:
            writerow(MOODLE_COLUMNS)
        for student, fields in students:
            grade = f"{scores[student][0]:g}" if student in scores else ""
            if flavor == "canvas":
                canvas_id = fields.get("canvas_id") or fields.get("lms_id") or _standin_id(student, "canvas")
                writerow([fields.get("name", ""), canvas_id, fields.get("sis_user_id", ""),
                          fields.get("sis_login_id") or fields.get("login_id", ""), fields.get("section", ""), grade])
            else:
                moodle_id = (fields.get("moodle_id") or fields.get("lms_id") or _standin_id(student, "moodle"))
                moodle_id = re.sub(r"(?i)^participant\s*", "", moodle_id)
                writerow([f"Participant {moodle_id}" if moodle_id else "", student, fields.get("name", ""),
                          fields.get("email", ""), grade, f"{maximum:g}"])
    return path, left_out
