"""Grade a class: intake, one isolated worker per student in parallel, then CSVs and a summary.

A run is a list of stages, each reading the run's settings (settings.RunSettings, built once
from the command line and the manifest): start the executor (the local pool's workers, or a
Dask cluster: workers/executor.Executor), so that it warms up meanwhile; set up the course in
the output folder (copy the assignment's source, register it in the gradebook) and take in the
submissions; call the roll (keep the verdicts an earlier run may keep, resume.py); grade each
other student on the executor (nbgrader autograde with the judge, then feedback); settle each
outcome; zero-fill whatever could not be graded; write scores.csv and grades_by_exercise.csv from
the gradebook (export.py), for every assignment graded into the folder: this assignment's rows
take each verdict from what the run holds (the record a worker's answer carried, or the one the
roll kept), never from the file just written; other assignments' come from their records. Every
stage after the set-up fails for one student alone: the batch always ends with a row for every
student. The folder is checked before anything is made (grading_output/guard.py), and grading one
assignment leaves every other assignment's folders and rows in it as they were.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from ...course import manifest as manifests
from ...grading.status import Status
from ...grading_output import class_record, export, guard, manual_review, reports
from ...judge.sandbox import Limits
from ...nbgrader_env import with_python_bin
from ...untrusted_text import printable
from ..feedback import problem_page
from ..gradebook import assignment_cache, store, verdicts
from ..gradebook.verdicts import VerdictRecord
from ..intake import intake
from ..steps.config import grading_config, write_course_config
from ..workers.executor import Executor, ExecutorError
from ..workers.messages import Outcome, Task
from ..workers.pool import LocalPool, zygote_for_run
from . import resume
from .settings import RunSettings


class GradingError(Exception):
    """The run as a whole cannot proceed; the message says what to fix."""


@dataclass
class GradingRun:
    out: Path
    rows: list[reports.ExerciseRow]
    grades_csv: Path  # the kit's per-student CSV, OUT/scores.csv (nbgrader export writes grades.csv)
    exercises_csv: Path
    seconds: float
    outcomes: dict[str, Outcome]
    notes: dict[str, str]
    kept: list[str] = field(default_factory=list)  # unchanged since the last run: verdicts kept
    graded: list[str] = field(default_factory=list)  # sent to a worker in this run
    refused: list[str] = field(default_factory=list)  # refused at intake (no notebook could be graded)
    assignment: str = ""
    settings: RunSettings | None = None

    def summary(self) -> str:
        return reports.summary(self.rows)

    def counts(self) -> str:
        """What this run did, e.g. "13 unchanged, kept; 0 graded" or "10 graded; 2 refused at intake"."""
        parts = [f"{len(self.graded)} graded"]
        if self.kept:
            parts.insert(0, f"{len(self.kept)} unchanged since the last run, kept")
        if self.refused:
            parts.append(f"{len(self.refused)} refused at intake")
        return "; ".join(parts)


def check_arguments(submissions: Path, out: Path, root: Path | None = None) -> Path:
    """OUT, resolved, once SUBMISSIONS can be read and OUT may be written (nothing is created here):
    OUT neither is, lies inside nor contains SUBMISSIONS or the course's source/ and release/, and is
    new, empty or a folder `grade` wrote."""
    root = Path(root or manifests.course_root()).resolve()
    intake.check_submissions(Path(submissions))
    try:
        return guard.check(Path(out), {"SUBMISSIONS": Path(submissions), "the course's source/": root / "source",
                                       "the course's release/": root / "release"})
    except guard.OutputFolderError as exc:
        raise GradingError(str(exc)) from None


def settings_for(submissions: Path, assignment: str, out: Path, root: Path | None = None, cluster=None,
                 **options) -> RunSettings:
    """The run's settings, once SUBMISSIONS and OUT are checked (check_arguments) and --cluster is
    (a bad address or missing credentials: said before anything starts)."""
    root = Path(root or manifests.course_root())
    out = check_arguments(submissions, out, root)
    return RunSettings.build(submissions, assignment, out, root, cluster=_cluster_spec(cluster), **options)


def grade(submissions: Path, assignment: str, out: Path, zygote: list | None = None, **options) -> GradingRun:
    """Grade every submission of `assignment` found in `submissions`; outputs go to `out`.

    `options` are RunSettings.build's: jobs, db_url, limits (or time_limit, memory_mb), root,
    executor, roster, regrade, clear_manual, progress and cluster ("local", a scheduler's address
    or a dask_security.ClusterSpec). `zygote`: see run."""
    return run(settings_for(submissions, assignment, out, **options), zygote)


def run(settings: RunSettings, zygote: list | None = None) -> GradingRun:
    """Grade the run `settings` describe. `zygote`: the connections of pool.share_zygote, one per
    job, when the caller started the workers' shared zygote itself (earlier); otherwise one is
    started here when the run's workers are forked here."""
    if zygote is not None:
        return _run(settings, zygote)
    with zygote_for_run(settings.jobs, settings.executor, settings.cluster) as connections:
        return _run(settings, connections)


def _run(settings: RunSettings, zygote: list | None) -> GradingRun:
    started = time.monotonic()
    say = _stderr if settings.progress else _quiet
    os.environ["PATH"] = with_python_bin()["PATH"]  # the in-process generate_assignment needs alembic
    guard.mark(settings.out)
    executor = _start_executor(settings, zygote, say)
    try:
        cells, taken, key = _set_up(settings, say)
        roll, todo, kept = _call_roll(settings, taken, key)
        say(f"{len(taken.students)} notebooks taken in: {len(todo)} to grade"
            + (f", {len(kept)} unchanged since the last run (kept; --regrade grades them again)" if kept else "")
            + (f"; {len(taken.problems)} refused at intake" if taken.problems else ""))
        graded = _grade_students(settings, executor, [Task(s, taken.sha256[s], key) for s in todo], say)
    except ExecutorError as exc:
        raise GradingError(str(exc)) from None
    finally:
        executor.close()
    outcomes = {s: Outcome(s, True, message="unchanged since the last run; kept") for s in kept}
    outcomes.update(_settle(settings, todo, graded, taken.notes))
    _zero_fill(settings, taken, outcomes)
    judged = {**kept, **{s: o.answer.record for s, o in outcomes.items() if o.ok and s not in kept}}
    rows, grades_csv, exercises_csv = _report(settings, cells, taken, outcomes, roll, judged)
    return GradingRun(settings.out, rows, grades_csv, exercises_csv, time.monotonic() - started, outcomes,
                      taken.notes, kept=list(kept), graded=todo, refused=sorted({p.student_id for p in taken.problems}),
                      assignment=settings.assignment, settings=settings)


def _quiet(message: str) -> None:
    pass


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cluster_spec(cluster):
    """--cluster checked (dask_security.ClusterSpec), or None for the local pool."""
    from ..workers.dask_security import ClusterError, cluster_spec
    try:
        return cluster_spec(cluster)
    except ClusterError as exc:
        raise GradingError(str(exc)) from None


def _start_executor(settings: RunSettings, zygote: list | None, say) -> Executor:
    """The run's executor, started now so that it warms up while the course is set up."""
    if settings.cluster is not None:
        from ..workers.dask_executor import DaskCluster
        say(f"Grading on the Dask cluster {settings.cluster.address} ...")
        return DaskCluster(settings.cluster, settings.jobs, settings.worker(), settings.notebook)
    say(f"Starting {settings.jobs} grading worker{'s' if settings.jobs > 1 else ''} (they load nbgrader meanwhile) ...")
    return LocalPool(settings.worker(), settings.jobs, zygote, release=settings.release)


def _set_up(settings: RunSettings, say):
    """Set up the course in OUT and take in the submissions: ({grade cell: points}, the intake, the resume key)."""
    say(f"Setting up the course in {settings.out} (nbgrader generate_assignment {settings.assignment}) ...")
    cells = _prepare_course(settings)
    for earlier in (settings.out / "submitted").glob(f"*/{settings.assignment}"):  # this assignment's only
        shutil.rmtree(earlier)
    say(f"Taking in the submissions from {printable(settings.submissions)} ...")
    taken = intake.take_in(Path(settings.submissions), settings.assignment, settings.notebook, settings.out,
                           roster=settings.roster)
    intake.write_sources(settings.out, settings.assignment, taken.sources)
    return cells, taken, resume.resume_key(settings.root, settings.assignment, settings.manifest.path,
                                           settings.limits, settings.executor)


def _prepare_course(settings: RunSettings) -> dict[str, float]:
    """Copy source/<assignment> into OUT, register it in the gradebook; {grade cell: points}.

    A new SQLite gradebook is a copy of the cached template (assignment_cache); any other
    gradebook gets the assignment from nbgrader generate_assignment, as before."""
    out, assignment, db_url = settings.out, settings.assignment, settings.db_url
    source = settings.root / "source" / assignment
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
    store.prepare(db_url, assignment, settings.manifest.due)  # due date: nbgrader's late handling
    write_course_config(out, db_url)
    if not new_sqlite:
        config = grading_config(out, db_url, Limits())
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        result = api.generate_assignment(assignment, force=True, create=True)
        if not result.get("success"):
            raise GradingError(f"nbgrader generate_assignment {assignment} failed:\n{result.get('error') or result.get('log')}")
    with Gradebook(db_url, store.COURSE_ID) as gb:
        return {cell.name: float(cell.max_score) for notebook in gb.find_assignment(assignment).notebooks
                for cell in notebook.grade_cells}


def _call_roll(settings: RunSettings, taken, key: str):
    """The class record of this run, written before any feedback page is (the pages read its flags),
    and who is graded now: (the record, the students to grade, {student whose verdict is kept: it})."""
    out, assignment = settings.out, settings.assignment
    previous = class_record.read(out, assignment)
    earlier, cleared = manual_review.carry_over(previous, settings.db_url, assignment, taken.sha256,
                                                clear=settings.clear_manual)
    roll = class_record.ClassRecord(assignment, class_record.stored_url(out, settings.db_url), {
        s: class_record.StudentEntry(sha256=taken.sha256[s], earlier_manual=earlier[s]) for s in taken.students},
        lms=previous.lms if previous else {})
    class_record.write(out, roll)
    todo, kept = [], {}
    for student in sorted(taken.students):
        if student in cleared:  # its page showed the grader's score: written again
            todo.append(student)
        elif not settings.regrade and (record := resume.previous_verdict(
                out, assignment, settings.notebook, student, taken.sha256[student], key)):
            kept[student] = record
        else:
            todo.append(student)
    return roll, todo, kept


def _grade_students(settings: RunSettings, executor: Executor, tasks: list[Task], say) -> dict[str, Outcome]:
    """Grade every task on the executor, with a progress bar; those a busy machine timed out, again, alone."""
    for task in tasks:  # nothing of an earlier run may stand for what is graded now
        verdicts.remove(settings.out, task.student, settings.assignment)
        (settings.out / "feedback" / task.student / settings.assignment / f"{settings.notebook}.html").unlink(
            missing_ok=True)
    bar = None
    if settings.progress and tasks:
        from tqdm import tqdm
        bar = tqdm(total=len(tasks), desc=f"Grading {settings.assignment}", unit="notebook", file=sys.stderr)

    def still_running(student: str, seconds: float) -> None:
        """A slow notebook says so, above the progress bar, rather than freezing it without a word."""
        line = f"still running: {printable(student)}, {seconds:.0f} s"
        if bar:
            bar.write(line, file=sys.stderr)
        else:
            say(line)

    graded = executor.grade_all(tasks, on_done=(lambda outcome: bar.update(1)) if bar else None,
                                still_running=still_running if settings.progress else None)
    again = [t for t in tasks if slowed_by_load(graded.get(t.student))]
    if again:  # a grade must not depend on what else the machine was doing: once more, alone
        say(f"Grading {len(again)} notebook{'s' if len(again) > 1 else ''} again, alone: the machine was too busy "
            "for the time limit")
        graded.update(executor.grade_all(again, alone=True))
    if bar:
        bar.close()
    return graded


def slowed_by_load(outcome: Outcome | None) -> bool:
    """True when a submission timed out on wall time while its CPU use was within limits (its
    verdict record, which the worker's answer carries, says so)."""
    if outcome is None:
        return False
    if not outcome.ok:
        return outcome.status == Status.TIMEOUT
    record = outcome.answer.record
    return bool(record and record.wall_bound)


def _settle(settings: RunSettings, todo: list[str], graded: dict[str, Outcome], notes: dict[str, str]):
    """Each graded student's outcome, checked against the record the judge left (its worker's
    answer carries it): {student: outcome}."""
    outcomes = {}
    for student in todo:
        outcome = graded.get(student) or Outcome(student, False, Status.ERROR, "no grading worker answered")
        if outcome.ok and outcome.answer.record is None:
            outcome.ok, outcome.status, outcome.message = False, Status.ERROR, "the judge left no verdict"
        if not outcome.ok:  # a verdict the environment may have cut short is never kept
            verdicts.remove(settings.out, student, settings.assignment)
        if outcome.answer.note:
            notes[student] = "; ".join(filter(None, [notes.get(student), outcome.answer.note]))
        outcomes[student] = outcome
    return outcomes


def _zero_fill(settings: RunSettings, taken, outcomes: dict[str, Outcome]) -> None:
    """A gradebook row of zeros for every student refused at intake or not graded."""
    problems = {p.student_id for p in taken.problems}
    for student in sorted(problems | {s for s, o in outcomes.items() if not o.ok}):
        if student in problems and not intake.STUDENT_ID.match(student):
            continue  # an id that is not safe as a folder name never reaches the gradebook
        try:
            store.zero_fill(settings.db_url, settings.assignment, student)
        except Exception as exc:  # noqa: BLE001 - its row below still says 0 and why
            taken.notes[student] = "; ".join(filter(None, [taken.notes.get(student),
                                                           f"the gradebook could not record it ({type(exc).__name__})"]))


def _report(settings: RunSettings, cells: dict[str, float], taken, outcomes: dict[str, Outcome], roll,
            judged: dict[str, VerdictRecord]):
    """Pages for those without a verdict, what decided their grades in the class record, and the
    CSVs of every assignment in OUT: (this assignment's rows, scores.csv, grades_by_exercise.csv).
    `judged`: {student: the verdict record the run holds}, which this assignment's rows are made from."""
    out, assignment = settings.out, settings.assignment
    problem_page.write_problem_pages(out, assignment, settings.notebook, taken.problems, outcomes, cells)
    for problem in taken.problems:  # what decided a grade where no verdict did
        roll.students[problem.student_id] = class_record.StudentEntry(status=problem.status, message=problem.message)
    for student, outcome in outcomes.items():
        if not outcome.ok and student in roll.students:
            roll.students[student].status, roll.students[student].message = outcome.status, outcome.message
    class_record.write(out, roll)
    by_assignment, grades_csv, exercises_csv = export.write_csvs(out, settings.db_url, judged={assignment: judged})
    return by_assignment.get(assignment, []), grades_csv, exercises_csv
