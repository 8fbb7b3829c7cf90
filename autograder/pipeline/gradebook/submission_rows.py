"""A graded submission's rows in nbgrader's gradebook, as plain data: read from one gradebook,
written into another.

A Dask worker autogrades into a scratch gradebook of its own; the rows nbgrader's SaveAutoGrades
and AssignLatePenalties wrote there travel back as data, and the process running `grade` (the
gradebook's one writer) writes them into the course gradebook. Trusted side: the rows come from
nbgrader in a grading worker, never from student code.
"""
from __future__ import annotations

import warnings
from datetime import datetime

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SAWarning

from .store import COURSE_ID


def read(db_url: str, assignment: str, student: str) -> dict:
    """{"timestamp", "notebooks": {name: {"late_submission_penalty", "grades", "comments"}}}."""
    with Gradebook(db_url, COURSE_ID) as gb:
        submission = gb.find_submission(assignment, student)
        return {
            "timestamp": submission.timestamp.isoformat() if submission.timestamp else None,
            "notebooks": {nb.name: {"late_submission_penalty": nb.late_submission_penalty,
                                    "grades": {g.name: g.auto_score for g in nb.grades},
                                    "comments": {c.name: c.auto_comment for c in nb.comments}}
                          for nb in submission.notebooks},
        }


def remove(db_url: str, assignment: str, student: str) -> None:
    """Drop a student's submission from a (scratch) gradebook, so it stays the size of one row."""
    with warnings.catch_warnings(), Gradebook(db_url, COURSE_ID) as gb:
        warnings.simplefilter("ignore", SAWarning)
        try:
            gb.remove_submission(assignment, student)
        except MissingEntry:
            pass


def write(gb: Gradebook, assignment: str, student: str, rows: dict) -> None:
    """Record rows in an open gradebook as SaveAutoGrades would: a grade that a TA has scored by
    hand, or that has no automatic score, is flagged for manual grading."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own autoflush notices
        gb.update_or_create_student(student)
        timestamp = datetime.fromisoformat(rows["timestamp"]) if rows.get("timestamp") else None
        submission = gb.update_or_create_submission(assignment, student, **(
            {"timestamp": timestamp} if timestamp else {}))
        for notebook in submission.notebooks:
            theirs = rows["notebooks"].get(notebook.name, {})
            notebook.late_submission_penalty = theirs.get("late_submission_penalty")
            for grade in notebook.grades:
                grade.auto_score = theirs.get("grades", {}).get(grade.name)
                grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
            for comment in notebook.comments:
                comment.auto_comment = theirs.get("comments", {}).get(comment.name)
        gb.db.commit()
