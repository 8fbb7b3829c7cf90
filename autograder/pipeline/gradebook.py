"""What the grading run needs from nbgrader's gradebook: zero-fills and reading scores back."""
from __future__ import annotations

import warnings

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SAWarning
from nbgrader.api import Gradebook, MissingEntry

from .config import COURSE_ID


def prepare(db_url: str) -> None:
    """Switch an SQLite gradebook to write-ahead logging, so readers never block the writer."""
    if db_url.startswith("sqlite:"):
        engine = create_engine(db_url)
        with engine.connect() as conn:
            conn.execute(text("PRAGMA journal_mode=WAL"))
        engine.dispose()


def zero_fill(db_url: str, assignment: str, student: str) -> None:
    """Record a submission that could not be graded, with zero on every grade cell."""
    with warnings.catch_warnings(), Gradebook(db_url, COURSE_ID) as gb:
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own autoflush notices
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def scores(db_url: str, assignment: str) -> dict[str, dict[str, tuple[float, float]]]:
    """{student: {grade cell id: (score, max_score)}} for every submission of the assignment."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    with Gradebook(db_url, COURSE_ID) as gb:
        try:
            submissions = gb.find_assignment(assignment).submissions
        except MissingEntry:
            return out
        for submission in submissions:
            cells = out.setdefault(submission.student.id, {})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    cells[grade.name] = (float(grade.score or 0.0), float(grade.max_score))
    return out
