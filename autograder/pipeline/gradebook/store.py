"""What the grading run needs from nbgrader's gradebook (trusted side): creating it safely when
several processes or runs share one database, the assignment's due date, zero-fills, reading
scores back, and its URL without the password for anything printed or passed on a command line.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import dateutil.parser
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, SAWarning
from sqlalchemy.orm import Session

from nbgrader.api import (Assignment, BaseCell, Comment, Grade, Gradebook, Student, SubmittedAssignment,
                         SubmittedNotebook)

#: The course id of every gradebook the kit writes (nbgrader's CourseDirectory.course_id).
COURSE_ID = "gradient-checking"
#: nbgrader's AssignLatePenalties opens the gradebook without a course id, so it creates this
#: course on first use; made here once, so parallel workers never race to insert it.
NBGRADER_DEFAULT_COURSE = "default_course"
#: Drivers that go through libpq, which reads PGPASSWORD (and ~/.pgpass) itself.
LIBPQ_DRIVERS = {"psycopg", "psycopg2", "psycopg2cffi"}


def sqlite_url(path: Path) -> str:
    """SQLite gradebook URL with a generous busy timeout, so parallel writers wait, never fail."""
    return f"sqlite:///{Path(path).resolve()}?timeout=300"


class GradebookError(Exception):
    """The gradebook cannot be opened or set up; the message says what to fix (never the password)."""


def redacted(db_url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<an unreadable database URL>"


def password_to_environment(db_url: str) -> str:
    """For a PostgreSQL URL with a password: move the password to PGPASSWORD (read by libpq in this
    process and in the grading workers, which inherit it; the judge's children get a clean
    environment) and return the URL without it, so it never shows in a worker's command line
    (visible to every local user) or in the course's nbgrader_config.py."""
    try:
        url = make_url(db_url)
    except ArgumentError:
        raise GradebookError(f"{redacted(db_url)} is not a database URL: give an SQLAlchemy URL such as "
                             "postgresql://grader@dbhost/course or sqlite:///path/gradebook.db") from None
    if url.get_backend_name() != "postgresql" or url.password is None:
        return db_url
    if (url.get_driver_name() or "psycopg") not in LIBPQ_DRIVERS:
        return db_url  # a pure-Python driver does not read PGPASSWORD: keep the URL working
    # Cut ":password" out of the string itself: re-rendering would %-encode the query (host=%2F...),
    # which nbgrader's alembic.ini cannot hold (`nbgrader db upgrade` fails on the % sign).
    without = re.sub(r"^([^/]*://[^:/]*):[^@]*@", r"\1@", db_url, count=1)  # SQLAlchemy's own split
    if make_url(without).set(password=url.password) != url:
        raise GradebookError(f"cannot take the password out of {redacted(db_url)}: put it in PGPASSWORD "
                             "or ~/.pgpass instead of the URL")
    os.environ["PGPASSWORD"] = url.password
    return without


def due_date_utc(due) -> dt.datetime | None:
    """The manifest's due date as an aware UTC datetime; a time without an offset is UTC, as in nbgrader."""
    if due is None or due == "":
        return None
    if isinstance(due, dt.datetime):
        when = due
    elif isinstance(due, dt.date):
        when = dt.datetime.combine(due, dt.time())
    else:
        try:
            when = dateutil.parser.isoparse(str(due))
        except ValueError:
            raise GradebookError(f"the due date {due!r} is not an ISO 8601 date and time such as "
                                 "2026-12-18T23:59:00+00:00; fix it in the assignment's manifest") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def _schema_lock(conn) -> None:
    """Serialise gradebook creation between processes: a PostgreSQL advisory lock for this transaction."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"autograder-gradebook:{COURSE_ID}".encode())
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def prepare(db_url: str, assignment: str | None = None, due=None) -> None:
    """Create the gradebook (tables, nbgrader's alembic stamp, the courses) once, then register
    the assignment with its due date, before any worker opens it.

    nbgrader creates its schema and its course rows on first open by check-then-insert; run by two
    processes at once on an empty PostgreSQL database, both insert and one fails. Here the first
    open happens under an advisory lock, so concurrent runs (a second assignment the same night)
    wait for each other instead. SQLite is switched to write-ahead logging, so readers never block
    the writer."""
    due_utc = due_date_utc(due)
    try:
        engine = create_engine(db_url)
        try:
            with engine.connect() as conn:
                if conn.dialect.name == "sqlite":
                    conn.execute(text("PRAGMA journal_mode=WAL"))
                    conn.commit()
                _schema_lock(conn)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", SAWarning)
                    for course in (COURSE_ID, NBGRADER_DEFAULT_COURSE):
                        Gradebook(db_url, course).close()
                    if assignment:
                        with Gradebook(db_url, COURSE_ID) as gb:
                            gb.update_or_create_assignment(assignment, **({"duedate": due_utc} if due_utc else {}))
                conn.commit()  # releases the advisory lock
        finally:
            engine.dispose()
    except (OperationalError, ArgumentError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise GradebookError(f"cannot open the gradebook {redacted(db_url)}: {reason}") from None


def ensure_student(db_url: str, student: str) -> None:
    """Add the student unless present; safe when another run adds the same student at the same time
    (nbgrader's own check-then-insert would fail that submission)."""
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            if session.get(Student, student) is not None:
                return
            session.add(Student(id=student))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()  # created meanwhile by a concurrent run: what we wanted
    finally:
        engine.dispose()


def zero_fill(db_url: str, assignment: str, student: str) -> None:
    """Record a submission that could not be graded, with zero on every grade cell."""
    ensure_student(db_url, student)
    with warnings.catch_warnings(), Gradebook(db_url, COURSE_ID) as gb:
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own autoflush notices
        submission = gb.update_or_create_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def scores(db_url: str, assignment: str) -> dict[str, dict[str, tuple[float, float]]]:
    """{student: {grade cell id: (score, max_score)}} for every submission of the assignment.

    One query over nbgrader's own score expressions (a manual grade over the judge's, extra
    credit), read row by row: no ORM object per student, so a class of any size costs its rows."""
    statement = (select(SubmittedAssignment.student_id, BaseCell.name, Grade.score, Grade.max_score)
                 .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
                 .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                 .join(Grade, Grade.notebook_id == SubmittedNotebook.id)
                 .join(BaseCell, BaseCell.id == Grade.cell_id)
                 .where(Assignment.name == assignment))
    out: dict[str, dict[str, tuple[float, float]]] = {}
    with Gradebook(db_url, COURSE_ID) as gb:
        for student, name, score, max_score in gb.db.execute(statement):
            out.setdefault(student, {})[name] = (float(score or 0.0), float(max_score))
    return out


@dataclass(frozen=True)
class CellGrade:
    """One graded cell of a submission as nbgrader holds it: `score` is nbgrader's (the manual score
    when a grader gave one, else the judge's, plus extra credit)."""
    score: float
    max_score: float
    manual_score: float | None


@dataclass
class Submission:
    """What the gradebook says of one student's submission of an assignment."""
    grades: dict[str, CellGrade]
    comments: dict[str, str]  # solution cell name -> a grader's comment
    seconds_late: float | None  # None when the submission has no timestamp or the assignment no due date


def submissions(db_url: str, assignment: str) -> dict[str, Submission]:
    """{student: Submission} for every submission of the assignment, in three queries."""
    base = (select(SubmittedAssignment.student_id, BaseCell.name)
            .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
            .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .where(Assignment.name == assignment))
    grades = (base.add_columns(Grade.score, Grade.max_score, Grade.manual_score)
              .join(Grade, Grade.notebook_id == SubmittedNotebook.id).join(BaseCell, BaseCell.id == Grade.cell_id))
    comments = (base.add_columns(Comment.manual_comment)
                .join(Comment, Comment.notebook_id == SubmittedNotebook.id).join(BaseCell, BaseCell.id == Comment.cell_id)
                .where(Comment.manual_comment.isnot(None)))
    times = (select(SubmittedAssignment.student_id, SubmittedAssignment.timestamp, SubmittedAssignment.extension,
                    Assignment.duedate)
             .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id).where(Assignment.name == assignment))
    out: dict[str, Submission] = {}
    with Gradebook(db_url, COURSE_ID) as gb:
        for student, timestamp, extension, due in gb.db.execute(times):
            late = None
            if timestamp is not None and due is not None:
                late = max(0.0, (timestamp - (due + extension if extension else due)).total_seconds())
            out[student] = Submission({}, {}, late)
        for student, name, score, max_score, manual in gb.db.execute(grades):
            out[student].grades[name] = CellGrade(float(score or 0.0), float(max_score),
                                                  None if manual is None else float(manual))
        for student, name, comment in gb.db.execute(comments):
            if comment.strip():
                out[student].comments[name] = comment
    return out


def clear_manual(db_url: str, assignment: str, student: str, names) -> None:
    """Clear a grader's scores and comments on these cells of a student's submission (the judge's stand)."""
    names = set(names)
    with warnings.catch_warnings(), Gradebook(db_url, COURSE_ID) as gb:
        warnings.simplefilter("ignore", SAWarning)
        submission = gb.find_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.name in names:
                    grade.manual_score = None
                    grade.needs_manual_grade = grade.auto_score is None
            for comment in notebook.comments:
                if comment.name in names:
                    comment.manual_comment = None
        gb.db.commit()


def cell_points(db_url: str, assignment: str) -> dict[str, float]:
    """{grade cell name: points} of the assignment as registered in the gradebook."""
    with Gradebook(db_url, COURSE_ID) as gb:
        return {cell.name: float(cell.max_score) for notebook in gb.find_assignment(assignment).notebooks
                for cell in notebook.grade_cells}
