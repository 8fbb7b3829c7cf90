"""The grading run's outputs: scores.csv, grades_by_exercise.csv and the closing summary (trusted side).

The per-student CSV is scores.csv, not grades.csv, so that `nbgrader export` (which writes
grades.csv in the folder it runs in) can run in the output folder without overwriting it. Every
cell goes through untrusted_text.csv_cell: ids and messages can carry text a student chose.
"""
from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..grading.status import Status
from ..untrusted_text import csv_row

#: source_file: the file or folder the student handed in, as named (the id may be its normal form:
#: submission_names), so a row can be traced back to what was handed in.
GRADES_COLUMNS = ["student_id", "assignment", "score", "max_score", "status", "source_file", "seconds_late",
                  "graded_by_hand", "flag"]
SCORES_FILE = "scores.csv"
EXERCISES_FILE = "grades_by_exercise.csv"
EXERCISE_COLUMNS = ["student_id", "assignment", "exercise", "score", "max_score", "status", "message", "source_file",
                    "graded_by", "grader_comment", "flag"]
#: The flag of a grader's score or comment given to an earlier notebook than the one graded last.
RESUBMITTED = "resubmitted after a manual grade"


@dataclass
class ExerciseRow:
    student_id: str
    assignment: str
    exercise: str
    score: float
    max_score: float
    status: str
    message: str
    source_file: str = ""
    graded_by: str = "judge"  # "grader" when the score is a grader's manual score
    comment: str = ""  # the grader's comment on the exercise's solution cell
    flag: str = ""  # RESUBMITTED, or ""
    seconds_late: float | None = None  # the submission's, from the gradebook; None when it cannot tell


def overall_status(rows: list[ExerciseRow]) -> str:
    """passed when every exercise passed, missing when none was attempted, else the worst status."""
    statuses = {r.status for r in rows}
    if statuses <= {Status.PASSED}:
        return Status.PASSED
    if statuses == {Status.MISSING}:
        return Status.MISSING
    for status in (Status.TIMEOUT, Status.ERROR):
        if status in statuses:
            return status
    return Status.FAILED


def write_csvs(out: Path, rows: list[ExerciseRow]) -> tuple[Path, Path]:
    rows = sorted(rows, key=lambda r: (r.student_id, r.assignment, r.exercise))
    by_student: dict[tuple[str, str], list[ExerciseRow]] = {}
    for row in rows:
        by_student.setdefault((row.student_id, row.assignment), []).append(row)
    grades, exercises = out / SCORES_FILE, out / EXERCISES_FILE
    with open(grades, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(GRADES_COLUMNS)
        for (student, assignment), group in sorted(by_student.items()):
            late = group[0].seconds_late
            writer.writerow(csv_row([student, assignment, f"{sum(r.score for r in group):g}",
                                     f"{sum(r.max_score for r in group):g}", overall_status(group),
                                     group[0].source_file, "" if late is None else f"{late:g}",
                                     sum(r.graded_by == "grader" for r in group),
                                     "; ".join(sorted({r.flag for r in group if r.flag}))]))
    with open(exercises, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(EXERCISE_COLUMNS)
        for r in rows:
            writer.writerow(csv_row([r.student_id, r.assignment, r.exercise, f"{r.score:g}", f"{r.max_score:g}",
                                     r.status, r.message, r.source_file, r.graded_by, r.comment, r.flag]))
    return grades, exercises


def _groups(rows: list[ExerciseRow]) -> dict[tuple[str, str], list[ExerciseRow]]:
    groups: dict[tuple[str, str], list[ExerciseRow]] = {}
    for r in rows:
        groups.setdefault((r.student_id, r.assignment), []).append(r)
    return groups


def late_by(seconds: float) -> str:
    """'late by 2 d 3 h', 'late by 5 min', 'late by 12 s'."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"late by {days} d {hours} h"
    if hours:
        return f"late by {hours} h {minutes} min"
    return f"late by {minutes} min" if minutes else f"late by {secs} s"


def _remarks(group: list[ExerciseRow]) -> str:
    """What the per-student line adds: lateness, manual grades, a flag."""
    parts = []
    if group[0].seconds_late:
        parts.append(late_by(group[0].seconds_late))
    manual = sum(r.graded_by == "grader" for r in group)
    if manual:
        parts.append(f"{manual} graded by hand")
    if any(r.flag for r in group):
        parts.append("handed in again after a manual grade")
    return f"  ({'; '.join(parts)})" if parts else ""


def summary(rows: list[ExerciseRow]) -> str:
    """Score distribution and the exercises most often not passed, as a few lines of text."""
    totals: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        t = totals.setdefault((r.student_id, r.assignment), [0.0, 0.0])
        t[0] += r.score
        t[1] += r.max_score
    lines = []
    if totals:
        maximum = max(t[1] for t in totals.values()) or 1.0
        bins = Counter()
        for score, max_score in totals.values():
            share = score / max_score if max_score else 0.0
            bins[min(int(share * 5), 4) if share < 1 else 5] += 1
        labels = ["0-19%", "20-39%", "40-59%", "60-79%", "80-99%", "100%"]
        lines.append(f"Score distribution ({len(totals)} submissions, max {maximum:g} points):")
        width = max(bins.values())
        for i, label in enumerate(labels):
            count = bins.get(i, 0)
            bar = "█" * round(20 * count / width) if width else ""
            lines.append(f"  {label:>7} {count:4d} {bar}")
        if len(totals) <= 30:
            lines.append("Submissions:")
            statuses = {}
            for r in rows:
                statuses.setdefault((r.student_id, r.assignment), []).append(r)
            for (student, _), (score, max_score) in sorted(totals.items()):
                lines.append(f"  {student:<28} {score:>5g} / {max_score:<4g} "
                             f"{overall_status(statuses[(student, _)])}{_remarks(statuses[(student, _)])}")
    late = {k: v[0].seconds_late for k, v in _groups(rows).items() if v[0].seconds_late}
    if late:
        lines.append(f"Late ({len(late)} of {len(totals)}): " + ", ".join(
            f"{student} {late_by(seconds)}" for (student, _), seconds in sorted(late.items())))
    flagged = sorted({(r.student_id, r.exercise) for r in rows if r.flag})
    if flagged:
        lines.append(f"Handed in again after a manual grade ({len(flagged)} exercise{'s' if len(flagged) > 1 else ''}; "
                     "the grader's score stands, "
                     "flagged in the CSVs; review it in formgrader, or grade with --clear-manual):")
        lines += [f"  {student}: {exercise}" for student, exercise in flagged]
    failed = Counter(r.exercise for r in rows if r.status != Status.PASSED)
    if failed:
        lines.append("Exercises most often not passed:")
        for exercise, count in failed.most_common(5):
            lines.append(f"  {exercise:<28} {count:4d} of {len(totals)}")
    return "\n".join(lines)
