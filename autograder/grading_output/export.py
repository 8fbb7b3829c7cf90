"""`autograder export OUT`: every CSV the kit writes, derived again from the gradebook (trusted side).

scores.csv and grades_by_exercise.csv hold a row per student and exercise of every assignment
graded into OUT (rows.py), so assignments graded into one OUT sit side by side; each
assignment's LMS file is written again as `grade --export` first asked for it (class_record.py).
`grade` ends by calling write_csvs; an instructor runs `export` after reviewing in formgrader."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..course import manifest
from . import class_record, rows as class_rows
from . import reports


class ExportError(Exception):
    """Nothing to export as asked; the message says what to pass."""


@dataclass
class Exported:
    rows: dict[str, list[reports.ExerciseRow]]  # assignment -> its rows
    scores_csv: Path
    exercises_csv: Path
    #: assignment -> (canvas or moodle, the file, graded ids not in the roster)
    lms: dict[str, tuple[str, Path, list[str]]] = field(default_factory=dict)


def write_csvs(out: Path, db_url: str | None = None, judged: dict[str, dict] | None = None
               ) -> tuple[dict[str, list[reports.ExerciseRow]], Path, Path]:
    """scores.csv and grades_by_exercise.csv for every assignment recorded in OUT, from the gradebook.
    `judged`: {assignment: {student: verdict record}} a grading run holds (rows.rows); every other
    verdict is read from its record."""
    judged = judged or {}
    by_assignment = {a: class_rows.rows(out, a, db_url, judged=judged.get(a)) for a in class_record.assignments(out)}
    scores_csv, exercises_csv = reports.write_csvs(out, [r for rows in by_assignment.values() for r in rows])
    return by_assignment, scores_csv, exercises_csv


def write_lms(out: Path, assignment: str, rows: list[reports.ExerciseRow], flavor: str,
              roster: Path | None, column: str) -> tuple[Path, list[str]]:
    """The assignment's LMS file, and the choice remembered in its record for `export`."""
    from .lms_export import write_lms_grades
    record = class_record.read(out, assignment)
    if record is not None:
        record.lms = {"flavor": flavor, "roster": str(Path(roster).resolve()) if roster else "", "column": column}
        class_record.write(out, record)
    return write_lms_grades(out, rows, flavor, roster, column, assignment=assignment)


def _title(assignment: str) -> str:
    """The assignment's title from its manifest, when the course is at hand; else its name."""
    try:
        return manifest.load(assignment).title
    except Exception:  # noqa: BLE001 - export works on OUT alone, wherever it is run
        return assignment


def export(out: Path, assignment: str | None = None, db_url: str | None = None, lms: dict | None = None) -> Exported:
    """Write every CSV again from the gradebook; `assignment` limits the LMS files written to its own.
    `lms` ({"flavor", "roster", "column"}): write that assignment's LMS file so (and remember it)."""
    out = Path(out).resolve()
    if not out.is_dir() or not manifest.is_kit_output(out):
        raise ExportError(f"{out} is not a folder `autograder grade` wrote; pass the --out folder of a grading run")
    known = class_record.assignments(out)
    if not known:
        raise ExportError(f"{out} holds no assignment graded by this version of the kit; run `autograder grade` "
                          "into it once (unchanged notebooks are kept, not graded again)")
    if assignment and assignment not in known:
        raise ExportError(f"{out} holds no grading of {assignment!r} (it holds: {', '.join(known)})")
    if lms:
        if not assignment and len(known) > 1:
            raise ExportError(f"{out} holds {', '.join(known)}: name the one the LMS file is for with --assignment")
        record = class_record.read(out, assignment or known[0])
        record.lms = {**record.lms, **{k: v for k, v in lms.items() if v}}
        if not record.lms.get("flavor"):
            raise ExportError("for the LMS file, say which LMS: --lms-export canvas or --lms-export moodle")
        if record.lms.get("roster"):
            record.lms["roster"] = str(Path(record.lms["roster"]).resolve())
        record.lms.setdefault("column", _title(record.assignment))
        class_record.write(out, record)
    by_assignment, scores_csv, exercises_csv = write_csvs(out, db_url)
    done = Exported(by_assignment, scores_csv, exercises_csv)
    for name in [assignment] if assignment else known:
        record = class_record.read(out, name)
        if record and record.lms:
            roster = Path(record.lms["roster"]) if record.lms.get("roster") else None
            if roster is not None and not roster.is_file():
                raise ExportError(f"the roster {roster} that {name}'s LMS file was made with is gone; put it back "
                                  "or grade again with --roster")
            flavor = record.lms["flavor"]
            done.lms[name] = (flavor, *write_lms(out, name, by_assignment[name], flavor, roster,
                                                 record.lms.get("column", "")))
    return done
