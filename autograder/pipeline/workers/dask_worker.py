"""The Dask worker's side of a grading run: a scratch course of its own, and one task per student.

`CoursePlugin` is a Dask WorkerPlugin: every worker that joins the cluster (also a replacement for
one that died) unpacks the course bundle (dask_executor.course_bundle: the release, the source's
helper modules and a gradebook holding only the assignment; no solutions) into a folder of its
own under the worker's local directory, and starts the same long-lived grading worker the local
pool uses (`python -m autograder.pipeline.workers.worker --serve`: nbgrader imported once, the judge's
zygote kept warm, the same sandbox, limits and time budget, executor.budget). `grade_submission` is
the Dask task: a messages.Task and the notebook as bytes go in; it is autograded into the scratch
course, and the answer (with the verdict record), the autograded notebook, the feedback and the
gradebook rows come back as data (messages.Graded); the scratch copy is then deleted. A worker
grades with its own kit, graders and course secret, so the plugin refuses to set up (and its tasks
fail) where they differ from the run's (course.fingerprint.Grader).
Trusted side: student code runs only in the judge's confined children (or the limited kernel).
"""
from __future__ import annotations

import queue
import shutil
import time
from pathlib import Path, PurePosixPath

from distributed import WorkerPlugin, get_worker

from ...course.fingerprint import Grader
from ..gradebook import engines, store, submission_rows
from ..gradebook.store import sqlite_url
from ..gradebook import verdicts
from ..steps.config import write_course_config
from .dask_security import OtherGrader
from .executor import budget, worker_command
from .messages import Answer, Graded, Stage, Task, WorkerSettings
from .pool import GradingWorker

#: Folders of the scratch course whose <student>/ part goes back to the process running `grade` as
#: files (the verdict record goes back in the answer: messages.Answer.record).
RETURNED = ("autograded", "feedback")
#: Folders of the scratch course that hold a student's part while it is graded.
SCRATCH = ("submitted", *RETURNED, verdicts.FOLDER)


class CoursePlugin(WorkerPlugin):
    """A scratch course and grading processes on each Dask worker, for one grading run."""

    def __init__(self, name: str, notebook: str, bundle: dict[str, bytes], settings: WorkerSettings,
                 grader: Grader):
        self.name = name
        self.notebook = notebook
        self.bundle = bundle
        self.run_settings = settings  # the run's; each worker grades in a scratch course of its own
        self.assignment = settings.assignment
        self.grader = grader  # what the run grades with (fingerprint.Grader.here on its machine)
        self.refusal = ""  # why this worker may not grade for the run, if it may not

    def setup(self, worker):
        # Its own graders and secret decide the verdicts (the bundle carries neither): they must be the run's.
        differences = self.grader.differences(Grader.here(self.assignment), self.assignment)
        if differences:
            self.refusal = (f"the Dask worker {worker.address} grades with {'; '.join(differences)}: install "
                            f"the same kit, course and .autograder-secret on every node (docs/cluster.md)")
            raise OtherGrader(self.refusal)
        local = Path(worker.local_directory)
        self.course = local / self.name
        # Its own: where namespaces are refused, a child running as a slot uid could read a
        # classmate's notebook being graded beside it through a folder others may enter.
        self.course.mkdir(mode=0o700, exist_ok=True)
        self.course.chmod(0o700)
        self.address = worker.address
        for relative, data in self.bundle.items():
            target = self.course.joinpath(*safe_parts(relative))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        self.db_url = sqlite_url(self.course / "gradebook.db")
        engines.install()  # this worker reads and removes each student's rows
        store.prepare(self.db_url)
        write_course_config(self.course, self.db_url)
        (self.course / "logs").mkdir(exist_ok=True)
        # Student code must not see this worker's folder (other runs, Dask's spilled data) either.
        self.settings = self.run_settings.for_course(self.course, self.db_url, [local])
        self.command = worker_command(self.settings)
        self.idle: queue.Queue = queue.Queue()
        for slot in range(max(1, worker.state.nthreads)):
            self.idle.put(self._start(slot))

    def _start(self, slot: int) -> tuple[int, GradingWorker]:
        return slot, GradingWorker(self.command, self.course / "logs" / f"worker-{slot}.log").start()

    def teardown(self, worker):
        while not self.idle.empty():  # idle: asked to leave, they stop their warm zygotes and folders
            self.idle.get_nowait()[1].stop()
        shutil.rmtree(self.course, ignore_errors=True)

    def grade(self, task: Task, notebook: bytes, timestamp: str | None) -> Graded:
        """Autograde one submission in the scratch course; everything it produced, as data."""
        if self.refusal:  # a worker that joined the cluster after the run began
            raise OtherGrader(self.refusal)
        slot, process = self.idle.get()
        try:
            self._hand_in(task.student, notebook, timestamp)
            started = time.monotonic()
            try:
                answer = process.ask(task, budget(self.settings.limits))
            except TimeoutError:
                answer = Answer.timed_out()
            if answer is None or answer.stage == Stage.TIMEOUT:
                process.stop(kill=True)
                process = self._start(slot)[1]
                answer = answer or Answer.worker_gone()
            answer.worker, answer.scratch = self.address, str(self.course)
            graded = Graded(answer, time.monotonic() - started)
            if answer.ok:
                graded.files = self._produced(task.student)
                graded.rows = submission_rows.read(self.db_url, self.assignment, task.student)
            return graded
        finally:
            for kind in SCRATCH:
                shutil.rmtree(self.course / kind / task.student, ignore_errors=True)
            submission_rows.remove(self.db_url, self.assignment, task.student)
            self.idle.put((slot, process))

    def _hand_in(self, student: str, notebook: bytes, timestamp: str | None) -> None:
        """Put the notebook (and its timestamp) where nbgrader's autograde looks for it."""
        folder = self.course / "submitted" / student / self.assignment
        shutil.rmtree(self.course / "submitted" / student, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / f"{self.notebook}.ipynb").write_bytes(notebook)
        if timestamp is not None:
            (folder / "timestamp.txt").write_text(timestamp, encoding="utf-8")

    def _produced(self, student: str) -> dict[str, bytes]:
        """The student's files grading made in the scratch course: relative path -> bytes."""
        files = {}
        for kind in RETURNED:
            folder = self.course / kind / student
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                files[path.relative_to(self.course).as_posix()] = path.read_bytes()
        return files


def safe_parts(relative: str) -> tuple[str, ...]:
    """The parts of a relative POSIX path, refusing anything that would leave its folder."""
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"unsafe path in a grading bundle or result: {relative!r}")
    return path.parts


def grade_submission(plugin: str, task: dict, notebook: bytes, timestamp: str | None) -> dict:
    """The Dask task: grade one student's notebook on this worker (see CoursePlugin.grade); a
    messages.Task in, a messages.Graded out, both as plain dicts."""
    return get_worker().plugins[plugin].grade(Task.from_dict(task), notebook, timestamp).to_dict()
