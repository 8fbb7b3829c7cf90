"""Grade a class: intake, one isolated worker per student in parallel, then CSVs and a summary.

The steps, in order: copy the assignment's source into the output folder (the course root of
this run) and register it in the gradebook; take in the submissions; grade each student in its
own worker process (nbgrader autograde with the judge, then feedback); zero-fill whatever could
not be graded; write grades.csv and grades_by_exercise.csv from the gradebook and the verdicts.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from ..course import manifest as manifests
from ..nbgrader_env import with_python_bin
from ..judge.sandbox import Limits
from . import gradebook, intake, reports
from .config import COURSE_ID, grading_config, sqlite_url, write_course_config
from .pool import WorkerOutcome, grade_all, start_workers


class GradingError(Exception):
    """The run as a whole cannot proceed; the message says what to fix."""


@dataclass
class GradingRun:
    out: Path
    rows: list[reports.ExerciseRow]
    grades_csv: Path
    exercises_csv: Path
    seconds: float
    outcomes: dict[str, WorkerOutcome]
    notes: dict[str, str]

    def summary(self) -> str:
        return reports.summary(self.rows)


def _prepare_course(out: Path, assignment: str, db_url: str, root: Path) -> dict[str, float]:
    """Copy source/<assignment> into out, register it in the gradebook; {grade cell: points}."""
    source = root / "source" / assignment
    if not source.is_dir():
        raise GradingError(f"no source folder {source} for assignment {assignment!r}")
    target = out / "source" / assignment
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    gradebook.prepare(db_url)
    write_course_config(out, db_url)
    config = grading_config(out, db_url, Limits())
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result = api.generate_assignment(assignment, force=True, create=True)
    if not result.get("success"):
        raise GradingError(f"nbgrader generate_assignment {assignment} failed:\n{result.get('error') or result.get('log')}")
    cells = {}
    with Gradebook(db_url, COURSE_ID) as gb:
        for notebook in gb.find_assignment(assignment).notebooks:
            for cell in notebook.grade_cells:
                cells[cell.name] = float(cell.max_score)
    return cells


def _previous_verdict(out: Path, assignment: str, notebook: str, student: str, sha256: str) -> dict | None:
    """The verdict record of an earlier run on the very same file, if complete (for resuming)."""
    record = out / "verdicts" / student / f"{assignment}.json"
    feedback = out / "feedback" / student / assignment / f"{notebook}.html"
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("wall_bound"):
        return None  # the machine's load decided it, not the submission
    if data.get("submission_sha256") == sha256 and data.get("complete") and feedback.is_file():
        return data
    return None


def _slowed_by_load(out: Path, assignment: str, outcome: WorkerOutcome | None) -> bool:
    """True when a submission timed out on wall time while its CPU use was within limits."""
    if outcome is None:
        return False
    if not outcome.ok:
        return outcome.status == "timeout"
    try:
        record = json.loads((out / "verdicts" / outcome.student / f"{assignment}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(record.get("wall_bound"))


def grade(submissions: Path, assignment: str, out: Path, jobs: int | None = None, db_url: str | None = None,
          limits: Limits | None = None, progress: bool = True, root: Path | None = None,
          executor: str = "sandbox", roster: Path | None = None) -> GradingRun:
    """Grade every submission of `assignment` found in `submissions`; outputs go to `out`.

    `roster` (a CSV) maps a Canvas or Moodle download to student ids; see pipeline/lms.py."""
    started = time.monotonic()
    os.environ["PATH"] = with_python_bin()["PATH"]  # the in-process generate_assignment needs alembic
    root = root or manifests.course_root()
    manifest = manifests.load(assignment, root)
    limits = limits or Limits(wall_seconds=manifest.time_seconds, memory_mb=manifest.memory_mb)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    db_url = db_url or sqlite_url(out / "gradebook.db")
    jobs = max(1, jobs or os.cpu_count() or 1)
    # Student code must not see the submissions (a classmate's notebook) or the roster either.
    hide = [Path(submissions).resolve()] + ([Path(roster).resolve()] if roster else [])
    workers = start_workers(out, assignment, db_url, limits, jobs, executor, hide)
    try:
        cells = _prepare_course(out, assignment, db_url, root)
        submitted = out / "submitted"
        if submitted.exists():
            shutil.rmtree(submitted)
        taken = intake.take_in(Path(submissions), assignment, manifest.notebook, out, roster=roster)
    except BaseException:
        for worker in workers:
            worker.stop(kill=True)
        raise

    todo, outcomes = [], {}
    for student in sorted(taken.students):
        if _previous_verdict(out, assignment, manifest.notebook, student, taken.sha256[student]):
            outcomes[student] = WorkerOutcome(student, True, message="unchanged since the last run; kept")
        else:
            todo.append(student)
    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), desc=f"Grading {assignment}", unit="notebook", file=sys.stderr)
    tasks = [{"student": s, "sha256": taken.sha256[s]} for s in todo]
    for student in todo:
        (out / "verdicts" / student / f"{assignment}.json").unlink(missing_ok=True)

    def done(outcome):
        if bar:
            bar.update(1)

    graded = grade_all(out, assignment, db_url, limits, tasks, jobs, executor, on_done=done, hide=hide,
                       prestarted=workers)
    again = [t for t in tasks if _slowed_by_load(out, assignment, graded.get(t["student"]))]
    if again:  # a grade must not depend on what else the machine was doing: once more, alone
        graded.update(grade_all(out, assignment, db_url, limits, again, 1, executor, hide=hide))
    if bar:
        bar.close()
    for student, outcome in graded.items():
        record = out / "verdicts" / student / f"{assignment}.json"
        if outcome.ok and not record.is_file():
            outcome.ok, outcome.status, outcome.message = False, "error", "the judge left no verdict"
        if outcome.stats.get("note"):
            taken.notes[student] = outcome.stats["note"]
        outcomes[student] = outcome

    problems = {p.student_id: p for p in taken.problems}
    for student in sorted(set(problems) | {s for s, o in outcomes.items() if not o.ok}):
        if student in problems and not intake.STUDENT_ID.match(student):
            continue  # an id that is not safe as a folder name never reaches the gradebook
        gradebook.zero_fill(db_url, assignment, student)

    scores = gradebook.scores(db_url, assignment)
    rows: list[reports.ExerciseRow] = []
    for student in sorted(set(taken.students) | set(problems)):
        record = {}
        path = out / "verdicts" / student / f"{assignment}.json"
        if student in outcomes and outcomes[student].ok and path.is_file():
            record = {e["exercise"]: e for e in json.loads(path.read_text(encoding="utf-8"))["exercises"]}
        for exercise, max_score in sorted(cells.items()):
            score = scores.get(student, {}).get(exercise, (0.0, max_score))[0]
            if student in problems:
                status, message = problems[student].status, problems[student].message
            elif not outcomes[student].ok:
                status, message = outcomes[student].status, outcomes[student].message
            elif exercise in record:
                status, message = record[exercise]["status"], record[exercise]["message"]
            else:
                status, message = ("passed" if score >= max_score else "failed"), "graded by nbgrader"
            rows.append(reports.ExerciseRow(student, assignment, exercise, score, max_score, status, message))
    grades_csv, exercises_csv = reports.write_csvs(out, rows)
    return GradingRun(out, rows, grades_csv, exercises_csv, time.monotonic() - started, outcomes, taken.notes)
