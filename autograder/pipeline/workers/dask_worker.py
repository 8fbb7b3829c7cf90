"""The Dask worker's side of a grading run: a scratch course of its own, and one task per student.

`CoursePlugin` is a Dask WorkerPlugin: every worker that joins the cluster (also a replacement for
one that died) unpacks the course bundle (dask_executor.course_bundle: the release, the source's
helper modules and a gradebook holding only the assignment; no solutions) into a folder of its
own under the worker's local directory, and starts the same long-lived grading worker the local
pool uses (`python -m autograder.pipeline.workers.worker --serve`: nbgrader imported once, the judge's
zygote kept warm, the same sandbox, limits and time budget, pool.budget_for). `grade_submission` is the Dask task: the notebook arrives as
bytes, is autograded into the scratch course, and the autograded notebook, the feedback, the
verdict record and the gradebook rows go back as data; the scratch copy is then deleted.
Trusted side: student code runs only in the judge's confined children (or the limited kernel).
"""
from __future__ import annotations

import queue
import shutil
import time
from pathlib import Path, PurePosixPath

from distributed import WorkerPlugin, get_worker

from ...judge.sandbox import Limits
from ..gradebook import engines, store, submission_rows
from ..gradebook.store import sqlite_url
from ..steps.config import write_course_config
from .pool import GradingWorker, budget_for, outcome_for, worker_command

#: Folders of the scratch course whose <student>/ part goes back to the process running `grade`.
RETURNED = ("autograded", "feedback", "verdicts")


class CoursePlugin(WorkerPlugin):
    """A scratch course and grading processes on each Dask worker, for one grading run."""

    def __init__(self, name: str, assignment: str, notebook: str, bundle: dict[str, bytes], limits: Limits,
                 executor: str, hide: list[str]):
        self.name = name
        self.assignment = assignment
        self.notebook = notebook
        self.bundle = bundle
        self.limits = limits
        self.executor = executor
        self.hide = list(hide)

    def setup(self, worker):
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
        self.command = worker_command(self.course, self.assignment, self.db_url, self.limits, self.executor,
                                      [*self.hide, str(local)])
        self.idle: queue.Queue = queue.Queue()
        for slot in range(max(1, worker.state.nthreads)):
            self.idle.put(self._start(slot))

    def _start(self, slot: int) -> tuple[int, GradingWorker]:
        return slot, GradingWorker(self.command, self.course / "logs" / f"worker-{slot}.log").start()

    def teardown(self, worker):
        while not self.idle.empty():  # idle: asked to leave, they stop their warm zygotes and folders
            self.idle.get_nowait()[1].stop()
        shutil.rmtree(self.course, ignore_errors=True)

    def grade(self, task: dict, notebook: bytes, timestamp: str | None) -> dict:
        """Autograde one submission in the scratch course; everything it produced, as data. `task`
        is the run's task as the local pool's workers get it ({"student", "sha256", "resume_key"})."""
        student = task["student"]
        name = self.course / "submitted" / student / self.assignment
        slot, process = self.idle.get()
        try:
            shutil.rmtree(self.course / "submitted" / student, ignore_errors=True)
            name.mkdir(parents=True)
            (name / f"{self.notebook}.ipynb").write_bytes(notebook)
            if timestamp is not None:
                (name / "timestamp.txt").write_text(timestamp, encoding="utf-8")
            budget = budget_for(self.limits)
            started = time.monotonic()
            try:
                answer = process.ask(task, budget)
            except TimeoutError:
                answer = {"ok": False, "stage": "timeout"}
            if answer is None or answer.get("stage") == "timeout":
                process.stop(kill=True)
                process = self._start(slot)[1]
                answer = answer or {"ok": False, "stage": "worker", "error": "the grading worker stopped unexpectedly"}
            answer.update(worker=self.address, scratch=str(self.course))
            result = {"answer": answer, "seconds": time.monotonic() - started, "files": {}, "rows": None}
            if answer.get("ok"):
                for kind in RETURNED:
                    folder = self.course / kind / student
                    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                        result["files"][path.relative_to(self.course).as_posix()] = path.read_bytes()
                result["rows"] = submission_rows.read(self.db_url, self.assignment, student)
            return result
        finally:
            for kind in ("submitted", *RETURNED):
                shutil.rmtree(self.course / kind / student, ignore_errors=True)
            submission_rows.remove(self.db_url, self.assignment, student)
            self.idle.put((slot, process))


def safe_parts(relative: str) -> tuple[str, ...]:
    """The parts of a relative POSIX path, refusing anything that would leave its folder."""
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"unsafe path in a grading bundle or result: {relative!r}")
    return path.parts


def grade_submission(plugin: str, task: dict, notebook: bytes, timestamp: str | None) -> dict:
    """The Dask task: grade one student's notebook on this worker (see CoursePlugin.grade)."""
    return get_worker().plugins[plugin].grade(task, notebook, timestamp)


def outcome_of(student: str, result: dict, limits: Limits):
    """The run's WorkerOutcome for a task's result, worded as the local pool words it."""
    return outcome_for(student, result["answer"], result["seconds"], budget_for(limits))
