"""The Dask executor: grade a class on a Dask cluster (`autograder grade ... --cluster local|tls://HOST:PORT`),
an executor.Executor as the local pool is.

The process running `grade` sends each submission to the cluster as bytes (dask_worker.py grades
it in a scratch course of the worker's own) and gets back the autograded notebook, the feedback,
the judge's verdict record and the gradebook rows as data. It is the gradebook's one writer and
writes each student's files and rows as soon as they arrive, so no shared file system is
needed. Only a bounded window of submissions is in flight, so memory stays flat however large
the class. A worker that dies mid-batch loses nothing: Dask runs its tasks again elsewhere and
each result is written once, when it arrives. It speaks to the cluster over mutually
authenticated TLS only (dask_security), and a local cluster opens no HTTP server (dask_nodes).
Trusted side.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from nbgrader.api import Gradebook

from ..gradebook import assignment_cache, submission_rows
from ..gradebook.store import COURSE_ID
from ...course.fingerprint import Grader
from .dask_security import ClusterError, ClusterSpec, OtherGrader
from .executor import OnDone, StillRunning, budget
from .messages import Answer, Graded, Outcome, Stage, Task, WorkerSettings, outcome_for


#: Messages Dask keeps for debugging per connection and in the scheduler's transition log.
LOW_LEVEL_LOG_LENGTH = 16


class DaskCluster:
    """The Dask executor: a Dask client, started in the background so workers start while the
    course is set up. `settings`: those of the run's workers (each grades in a scratch course of its
    own); `notebook`: the name of the assignment's notebook."""

    def __init__(self, spec: ClusterSpec, jobs: int, settings: WorkerSettings | None = None, notebook: str = ""):
        self.spec = spec
        self.jobs = jobs
        self.settings, self.notebook = settings, notebook
        self.client = None
        self.cluster = None
        self.security = None  # the run's credentials (None for an insecure tcp:// cluster)
        self.folder: Path | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._connect, daemon=True)
        self._thread.start()

    def _connect(self):
        import dask
        from distributed import Client
        # Dask keeps its last low-level messages for debugging (1,000 by default); here each one
        # holds a submission or a result, which would keep megabytes in memory for no one.
        dask.config.set({"distributed.admin.low-level-log-length": LOW_LEVEL_LOG_LENGTH})
        try:
            self.security = self.spec.security()
            if self.spec.address == "local":
                # Each worker makes its own folder under this one (dask-scratch-space/worker-*).
                self.folder = Path(tempfile.mkdtemp(prefix="autograder-dask-"))
                self.cluster = local_cluster(self.jobs, self.folder, self.security)
                self.client = Client(self.cluster, security=self.security)
            else:
                self.client = Client(self.spec.address, timeout="30s", security=self.security)
        except BaseException as exc:  # reported to the caller in ready()
            self.error = exc

    def ready(self):
        self._thread.join()
        if self.error is not None:
            raise ClusterError(f"cannot use the Dask cluster {self.spec.address}: {self.error}") from self.error
        return self.client

    def close(self):
        self._thread.join()
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def grade_all(self, tasks: Sequence[Task], on_done: OnDone | None = None,
                  still_running: StillRunning | None = None, alone: bool = False) -> dict[str, Outcome]:
        """Grade every task on the cluster; {student: outcome}. Each result is written as it arrives
        (store), so a student whose result cannot be written gets an error, the batch goes on.
        `alone`: one submission in flight at a time. (Dask reports no slow notebook: still_running
        is not called.)"""
        from distributed import as_completed
        client = self.ready()
        if not tasks:
            return {}
        plugin = self._plugin()
        try:
            client.register_plugin(plugin)
        except OtherGrader:  # before any student is graded
            _unregister(client, plugin.name)
            raise
        outcomes: dict[str, Outcome] = {}
        pending, in_flight, window = iter(tasks), {}, as_completed()
        room = (lambda: 1) if alone else (lambda: _window_size(client))

        def fill():
            while len(in_flight) < room() and (task := next(pending, None)) is not None:
                future = self._submit(client, plugin.name, task)
                in_flight[future.key] = task
                window.add(future)

        try:
            with Gradebook(self.settings.db_url, COURSE_ID) as gb:
                fill()
                for future in window:
                    task = in_flight.pop(future.key)
                    outcome = self.receive(gb, task, future)
                    outcomes[task.student] = outcome
                    if on_done:
                        on_done(outcome)
                    fill()
        finally:
            _unregister(client, plugin.name)
        return outcomes

    def _plugin(self):
        """This batch's worker plugin: the course bundle and the workers' settings, hiding OUT too."""
        from .dask_worker import CoursePlugin
        out = self.settings.course
        settings = replace(self.settings, hide=(*self.settings.hide, str(Path(out).resolve())))
        return CoursePlugin(f"autograder-{uuid.uuid4().hex[:12]}", self.notebook,
                            course_bundle(out, settings.assignment), settings, Grader.here(settings.assignment))

    def _submit(self, client, plugin: str, task: Task):
        """Send one student's notebook (and its timestamp) to the cluster; its future."""
        from .dask_worker import grade_submission
        folder = self.settings.course / "submitted" / task.student / self.settings.assignment
        stamp = folder / "timestamp.txt"
        return client.submit(grade_submission, plugin, task.to_dict(), (folder / f"{self.notebook}.ipynb").read_bytes(),
                             stamp.read_text(encoding="utf-8") if stamp.is_file() else None,
                             key=f"grade-{plugin}-{task.student}", pure=False)

    def receive(self, gb: Gradebook, task: Task, future) -> Outcome:
        """The outcome of one finished future, its result written into OUT and the gradebook."""
        try:
            graded = Graded.from_dict(future.result())
        except Exception as exc:  # KilledWorker: the task took several workers down with it
            graded = Graded(Answer.failed(Stage.WORKER, f"{type(exc).__name__}: {exc}"))
        future.release()
        if graded.answer.ok:
            try:
                store(self.settings.course, gb, self.settings.assignment, task.student, graded)
            except (OSError, ValueError, KeyError, TypeError) as exc:  # this student only; the batch goes on
                gb.db.rollback()
                graded.answer = Answer.failed(Stage.WORKER, f"{type(exc).__name__}: {exc}")
        return outcome_for(task.student, graded.answer, graded.seconds, budget(self.settings.limits))


def _unregister(client, name: str) -> None:
    try:
        client.unregister_worker_plugin(name)
    except Exception:  # a worker gone for good: nothing of the run is left on it to clean
        pass


def local_cluster(jobs: int, folder: Path, security):
    """`jobs` single-threaded Dask workers on this machine, as LocalCluster makes them, but on TLS
    with `security`, on 127.0.0.1 only and without HTTP servers (dask_nodes)."""
    from distributed import Nanny, SpecCluster
    from distributed.system import MEMORY_LIMIT
    from . import dask_nodes
    node = {"host": "127.0.0.1", "protocol": "tls://", "security": security, "dashboard_address": None,
            "dashboard": False}
    worker = {"cls": Nanny, "options": {**node, "nthreads": 1, "worker_class": dask_nodes.Worker,
                                        "local_directory": str(folder), "memory_limit": MEMORY_LIMIT // jobs,
                                        "silence_logs": logging.ERROR}}
    scheduler = {"cls": dask_nodes.Scheduler, "options": {**node, "port": 0}}
    return SpecCluster(scheduler=scheduler, workers={slot: worker for slot in range(jobs)}, worker=worker,
                       security=security, silence_logs=logging.ERROR)


def _window_size(client) -> int:
    """Submissions in flight: two per worker thread, so no worker waits and memory stays flat."""
    return max(4, 2 * sum(client.nthreads().values()))


def course_bundle(out: Path, assignment: str) -> dict[str, bytes]:
    """What a worker needs to grade, and nothing more: relative path -> bytes. The release, the
    source folder's other files (nbgrader's autograde copies them over a submission's) and the
    assignment's gradebook (see assignment_cache.template: the cells as released, the test cells,
    no student); never the instructor's notebook with its solutions. The graders and the course
    secret come from the worker's own installation of the kit."""
    template = assignment_cache.template(out / "source" / assignment, assignment)
    bundle = {assignment_cache.GRADEBOOK: (template / assignment_cache.GRADEBOOK).read_bytes()}
    for kind in ("source", "release"):
        folder = template / kind / assignment
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if kind == "source" and path.suffix == ".ipynb":
                continue
            bundle[path.relative_to(template).as_posix()] = path.read_bytes()
    return bundle


def store(out: Path, gb: Gradebook, assignment: str, student: str, graded: Graded) -> None:
    """Write one student's result: gradebook rows, then files, then the verdict record of the answer,
    last (so a run killed in between grades this student again, never half). The record is complete
    as the worker left it: one whose feedback page failed stays incomplete, as on the local pool."""
    from .dask_worker import RETURNED, safe_parts
    record = graded.answer.record
    if record is not None and (record.student_id, record.assignment) != (student, assignment):
        raise ValueError(f"a grading result for {student} holds another's verdict record: "
                         f"{record.student_id}/{record.assignment}")
    submission_rows.write(gb, assignment, student, graded.rows)
    for kind in ("autograded", "feedback"):
        shutil.rmtree(out / kind / student / assignment, ignore_errors=True)  # an earlier run's files
    for relative, data in graded.files.items():
        parts = safe_parts(relative)
        if parts[0] not in RETURNED or len(parts) < 3 or parts[1] != student:
            raise ValueError(f"a grading result for {student} names a file outside its folders: {relative}")
        target = out.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if record is not None:
        record.write(out)
