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

from .. import manifest as manifests
from ..nbgrader_env import with_python_bin
from ..judge.sandbox import Limits
from . import assignment_cache, gradebook, intake, reports
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
    """Copy source/<assignment> into out, register it in the gradebook; {grade cell: points}.

    A new SQLite gradebook is a copy of the cached template (assignment_cache); any other
    gradebook gets the assignment from nbgrader generate_assignment, as before."""
    source = root / "source" / assignment
    if not source.is_dir():
        raise GradingError(f"no source folder {source} for assignment {assignment!r}")
    try:
        cached = assignment_cache.template(source, assignment)
    except assignment_cache.TemplateError as exc:
        raise GradingError(str(exc)) from None
    assignment_cache.install(cached, assignment, out)
    new_sqlite = db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):].split("?")[0]).exists()
    if new_sqlite:
        shutil.copyfile(cached / assignment_cache.GRADEBOOK, db_url[len("sqlite:///"):].split("?")[0])
    gradebook.prepare(db_url)
    write_course_config(out, db_url)
    if not new_sqlite:
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
    if data.get("submission_sha256") == sha256 and data.get("complete") and feedback.is_file():
        return data
    return None


def _dask_cluster(cluster: str | None, jobs: int):
    """The Dask cluster to grade on (started in the background), or None for the local pool."""
    if not cluster:
        return None
    from .dask_executor import ClusterError, DaskCluster
    try:
        return DaskCluster(cluster, jobs)
    except ClusterError as exc:
        raise GradingError(str(exc)) from None


def grade(submissions: Path, assignment: str, out: Path, jobs: int | None = None, db_url: str | None = None,
          limits: Limits | None = None, progress: bool = True, root: Path | None = None,
          executor: str = "sandbox", roster: Path | None = None, cluster: str | None = None) -> GradingRun:
    """Grade every submission of `assignment` found in `submissions`; outputs go to `out`.

    `roster` (a CSV) maps a Canvas or Moodle download to student ids; see pipeline/lms.py.
    `cluster` ("local" or tcp://HOST:PORT) grades on Dask workers instead of the local pool."""
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
    remote = _dask_cluster(cluster, jobs)
    workers = [] if remote else start_workers(out, assignment, db_url, limits, jobs, executor, hide)
    try:
        cells = _prepare_course(out, assignment, db_url, root)
        submitted = out / "submitted"
        if submitted.exists():
            shutil.rmtree(submitted)
        taken = intake.take_in(Path(submissions), assignment, manifest.notebook, out, roster=roster)
    except BaseException:
        for worker in workers:
            worker.stop(kill=True)
        if remote:
            remote.close()
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

    if remote:
        from .dask_executor import ClusterError
        try:
            graded = remote.grade_all(out, assignment, manifest.notebook, db_url, limits, tasks, executor,
                                      on_done=done, hide=hide)
        except ClusterError as exc:
            raise GradingError(str(exc)) from None
        finally:
            remote.close()
    else:
        graded = grade_all(out, assignment, db_url, limits, tasks, jobs, executor, on_done=done, hide=hide,
                           prestarted=workers)
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
