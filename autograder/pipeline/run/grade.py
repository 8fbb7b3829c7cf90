"""Grade a class: intake, one isolated worker per student in parallel, then CSVs and a summary.

The steps, in order: copy the assignment's source into the output folder (the course root of
this run) and register it in the gradebook; take in the submissions; keep the verdicts an
earlier run may keep (resume.py); grade each other student in a worker process (nbgrader
autograde with the judge, then feedback); zero-fill whatever could not be graded; write
scores.csv and grades_by_exercise.csv from the gradebook (export.py), for every assignment
graded into the folder. Every step after the set-up fails for one student alone: the batch always
ends with a row for every student. The folder is checked before anything is made (grading_output/guard.py),
and grading one assignment leaves every other assignment's folders and rows in it as they were.
"""
from __future__ import annotations

import json
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
from ...nbgrader_env import with_python_bin
from ...judge.sandbox import Limits
from ...grading_output import class_record, export, manual_review, reports
from ...grading_output import guard
from ..feedback import problem_page
from ..gradebook import assignment_cache, store
from ..intake import intake
from . import resume
from ..steps.config import COURSE_ID, grading_config, sqlite_url, write_course_config
from ..workers.pool import WorkerOutcome, grade_all, job_count, start_workers, zygote_for_run
from ...untrusted_text import printable


class GradingError(Exception):
    """The run as a whole cannot proceed; the message says what to fix."""


@dataclass
class GradingRun:
    out: Path
    rows: list[reports.ExerciseRow]
    grades_csv: Path  # the kit's per-student CSV, OUT/scores.csv (nbgrader export writes grades.csv)
    exercises_csv: Path
    seconds: float
    outcomes: dict[str, WorkerOutcome]
    notes: dict[str, str]
    kept: list[str] = field(default_factory=list)  # unchanged since the last run: verdicts kept
    graded: list[str] = field(default_factory=list)  # sent to a worker in this run
    refused: list[str] = field(default_factory=list)  # refused at intake (no notebook could be graded)
    assignment: str = ""

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
    store.prepare(db_url, assignment, manifests.load(assignment, root).due)  # due date: nbgrader's late handling
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


def _previous_verdict(out: Path, assignment: str, notebook: str, student: str, sha256: str,
                      key: str = "") -> dict | None:
    """The verdict record of an earlier run on the very same file and key, if it may be kept (resume.py)."""
    return resume.previous_verdict(out, assignment, notebook, student, sha256, key)


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


def _dask_cluster(cluster, jobs: int):
    """The Dask cluster to grade on (started in the background), or None for the local pool."""
    if cluster is None:
        return None
    from ..workers.dask_executor import DaskCluster
    return DaskCluster(cluster, jobs)


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


def grade(submissions: Path, assignment: str, out: Path, jobs: int | None = None, db_url: str | None = None,
          limits: Limits | None = None, progress: bool = True, root: Path | None = None,
          executor: str = "sandbox", roster: Path | None = None, regrade: bool = False,
          cluster=None, zygote: list | None = None, clear_manual: bool = False) -> GradingRun:
    """Grade every submission of `assignment` found in `submissions`; outputs go to `out`.

    `roster` (a CSV) maps a Canvas or Moodle download to student ids; see pipeline/intake/lms.py.
    `regrade` grades every submission again, keeping nothing from an earlier run. `cluster`
    ("local", a scheduler's address or a dask_security.ClusterSpec) grades on Dask workers instead
    of the local pool. With `progress`, what is happening goes to stderr: a line per stage, then
    a progress bar.
    `zygote`: the connections of pool.share_zygote, one per job, when the caller started the
    workers' shared zygote itself (earlier); otherwise one is started here. `clear_manual`: a
    grader's scores and comments given to an earlier notebook of a student who handed in again are
    cleared (manual_review.py) instead of kept and flagged."""
    check_arguments(submissions, out, root)
    cluster = _cluster_spec(cluster)  # a bad address or missing credentials: said before anything starts
    arguments = dict(jobs=jobs, db_url=db_url, limits=limits, progress=progress, root=root, executor=executor,
                     roster=roster, regrade=regrade, cluster=cluster, clear_manual=clear_manual)
    if zygote is not None:
        return _grade(submissions, assignment, out, zygote=zygote, **arguments)
    with zygote_for_run(jobs, executor, cluster) as connections:
        return _grade(submissions, assignment, out, zygote=connections, **arguments)


def _grade(submissions: Path, assignment: str, out: Path, jobs: int | None, db_url: str | None,
           limits: Limits | None, progress: bool, root: Path | None, executor: str, roster: Path | None,
           regrade: bool, cluster, zygote: list | None, clear_manual: bool) -> GradingRun:
    started = time.monotonic()
    say = _stderr if progress else _quiet
    os.environ["PATH"] = with_python_bin()["PATH"]  # the in-process generate_assignment needs alembic
    root = root or manifests.course_root()
    manifest = manifests.load(assignment, root)
    limits = limits or Limits(wall_seconds=manifest.time_seconds, memory_mb=manifest.memory_mb)
    out = check_arguments(submissions, out, root)
    guard.mark(out)
    db_url = db_url or sqlite_url(out / "gradebook.db")
    db_url = store.password_to_environment(db_url)  # never on a command line or in OUT
    jobs = job_count(jobs)
    # Student code must not see the submissions (a classmate's notebook) or the roster either.
    hide = [Path(submissions).resolve()] + ([Path(roster).resolve()] if roster else [])
    remote = _dask_cluster(cluster, jobs)
    if remote:
        say(f"Grading on the Dask cluster {remote.spec.address} ...")
    else:
        say(f"Starting {jobs} grading worker{'s' if jobs > 1 else ''} (they load nbgrader meanwhile) ...")
    workers = [] if remote else start_workers(out, assignment, db_url, limits, jobs, executor, hide, zygote,
                                              release=root / "release" / assignment)
    try:
        say(f"Setting up the course in {out} (nbgrader generate_assignment {assignment}) ...")
        cells = _prepare_course(out, assignment, db_url, root)
        for earlier in (out / "submitted").glob(f"*/{assignment}"):  # this assignment's only: others stay
            shutil.rmtree(earlier)
        say(f"Taking in the submissions from {printable(submissions)} ...")
        taken = intake.take_in(Path(submissions), assignment, manifest.notebook, out, roster=roster)
        intake.write_sources(out, assignment, taken.sources)
        key = resume.resume_key(root, assignment, manifest.path, limits, executor)
    except BaseException:
        for worker in workers:
            worker.stop(kill=True)
        if remote:
            remote.close()
        raise

    previous = class_record.read(out, assignment)
    earlier, cleared = manual_review.carry_over(previous, db_url, assignment, taken.sha256, clear=clear_manual)
    roll = class_record.ClassRecord(assignment, class_record.stored_url(out, db_url), {
        s: class_record.StudentEntry(sha256=taken.sha256[s], earlier_manual=earlier[s]) for s in taken.students},
        lms=previous.lms if previous else {})
    class_record.write(out, roll)  # before any feedback page is written: the pages read the flags
    todo, outcomes, kept = [], {}, []
    for student in sorted(taken.students):
        if student in cleared:  # its page showed the grader's score: written again
            todo.append(student)
        elif not regrade and _previous_verdict(out, assignment, manifest.notebook, student, taken.sha256[student], key):
            outcomes[student] = WorkerOutcome(student, True, message="unchanged since the last run; kept")
            kept.append(student)
        else:
            todo.append(student)
    say(f"{len(taken.students)} notebooks taken in: {len(todo)} to grade"
        + (f", {len(kept)} unchanged since the last run (kept; --regrade grades them again)" if kept else "")
        + (f"; {len(taken.problems)} refused at intake" if taken.problems else ""))
    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), desc=f"Grading {assignment}", unit="notebook", file=sys.stderr)
    tasks = [{"student": s, "sha256": taken.sha256[s], "resume_key": key} for s in todo]
    for student in todo:  # nothing of an earlier run may stand for what is graded now
        (out / "verdicts" / student / f"{assignment}.json").unlink(missing_ok=True)
        (out / "feedback" / student / assignment / f"{manifest.notebook}.html").unlink(missing_ok=True)

    def done(outcome):
        if bar:
            bar.update(1)

    def still_running(student: str, seconds: float) -> None:
        """A slow notebook says so, above the progress bar, rather than freezing it without a word."""
        line = f"still running: {printable(student)}, {seconds:.0f} s"
        if bar:
            bar.write(line, file=sys.stderr)
        else:
            say(line)

    if remote:
        from ..workers.dask_security import ClusterError
        try:
            graded = remote.grade_all(out, assignment, manifest.notebook, db_url, limits, tasks, executor,
                                      on_done=done, hide=hide)
        except ClusterError as exc:
            raise GradingError(str(exc)) from None
        finally:
            remote.close()
    else:
        graded = grade_all(out, assignment, db_url, limits, tasks, jobs, executor, on_done=done, hide=hide,
                           prestarted=workers, still_running=still_running if progress else None)
    again = [t for t in tasks if _slowed_by_load(out, assignment, graded.get(t["student"]))]
    if again:  # a grade must not depend on what else the machine was doing: once more, alone
        say(f"Grading {len(again)} notebook{'s' if len(again) > 1 else ''} again, alone: the machine was too busy "
            "for the time limit")
        graded.update(grade_all(out, assignment, db_url, limits, again, 1, executor, hide=hide))
    if bar:
        bar.close()
    for student in todo:
        outcome = graded.get(student) or WorkerOutcome(student, False, "error", "no grading worker answered")
        record = out / "verdicts" / student / f"{assignment}.json"
        if outcome.ok and not record.is_file():
            outcome.ok, outcome.status, outcome.message = False, "error", "the judge left no verdict"
        if not outcome.ok:
            record.unlink(missing_ok=True)  # a verdict the environment may have cut short is never kept
        if outcome.stats.get("note"):
            taken.notes[student] = "; ".join(filter(None, [taken.notes.get(student), outcome.stats["note"]]))
        outcomes[student] = outcome

    problems = {p.student_id: p for p in taken.problems}
    for student in sorted(set(problems) | {s for s, o in outcomes.items() if not o.ok}):
        if student in problems and not intake.STUDENT_ID.match(student):
            continue  # an id that is not safe as a folder name never reaches the gradebook
        try:
            store.zero_fill(db_url, assignment, student)
        except Exception as exc:  # noqa: BLE001 - its row below still says 0 and why
            taken.notes[student] = "; ".join(filter(None, [taken.notes.get(student),
                                                           f"the gradebook could not record it ({type(exc).__name__})"]))

    problem_page.write_problem_pages(out, assignment, manifest.notebook, taken.problems, outcomes, cells)
    for student, problem in problems.items():  # what decided a grade where no verdict did
        roll.students[student] = class_record.StudentEntry(status=problem.status, message=problem.message)
    for student, outcome in outcomes.items():
        if not outcome.ok and student in roll.students:
            roll.students[student].status, roll.students[student].message = outcome.status, outcome.message
    class_record.write(out, roll)
    by_assignment, grades_csv, exercises_csv = export.write_csvs(out, db_url)
    return GradingRun(out, by_assignment.get(assignment, []), grades_csv, exercises_csv, time.monotonic() - started,
                      outcomes, taken.notes, kept=kept, graded=todo, refused=sorted(problems), assignment=assignment)
