"""The local executor: a pool of long-lived grading workers, each a separate process fed one
student at a time (executor.Executor, as the Dask cluster is).

Workers pay nbgrader's import once, not once per student; with the sandbox executor the first
ones are forked from this process once it has imported what they use (worker.preload), before
any thread starts, so they do not pay it at all; a replacement, started while the pool's threads
run, and a worker that drives Jupyter kernels are fresh interpreters.
A worker that dies, overruns a student's time budget or retires after a failure (see
worker.serve) is replaced, never reused; that student gets an error or timeout status and the
batch goes on. Every task gets an outcome.
"""
from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from ...judge.sandbox import remove_orphans
from .executor import OnDone, StillRunning, budget, job_count, worker_command
from .messages import RESULT_PREFIX, Answer, Outcome, Stage, Task, WorkerSettings, outcome_for


#: The name a forked worker gives itself (its command line is still the one of `grade`).
WORKER_NAME = b"grading-worker"


#: Seconds between "still running" reports of one student's grading (grade_all's still_running).
STILL_RUNNING_EVERY = 15.0


#: Where a forked worker finds its connection to the zygote `grade` shares (see judge.adopt_zygote).
ZYGOTE_FD = 3


def _become_worker(argv: list[str], tasks: int, results: int, log: int, zygote: int | None) -> None:
    """In a freshly forked child: become a worker reading tasks from `tasks`, answering on
    `results`, logging to `log`, judging with the shared zygote on `zygote` if any; never returns."""
    try:
        os.setsid()  # its own session, as start_new_session gives a spawned one
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        os.dup2(tasks, 0)
        os.dup2(results, 1)
        os.dup2(log, 2)
        if zygote is not None:
            if zygote != ZYGOTE_FD:
                os.dup2(zygote, ZYGOTE_FD)
            os.set_inheritable(ZYGOTE_FD, False)  # nothing it spawns holds the connection
            argv = [*argv, "--zygote-fd", str(ZYGOTE_FD)]
        # The other workers' pipe ends and zygote connections above all: their EOF must stay theirs.
        os.closerange(ZYGOTE_FD if zygote is None else ZYGOTE_FD + 1, 1 << 16)
        sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)
        try:
            import ctypes
            ctypes.CDLL(None).prctl(15, WORKER_NAME, 0, 0, 0)  # PR_SET_NAME: what ps shows for it
        except (OSError, AttributeError):
            pass
        from . import worker
        worker.leave(worker.main(argv))
    except BaseException:  # noqa: B902 - whatever happens, never return into the caller's code
        import traceback
        traceback.print_exc()
    finally:
        os._exit(70)


class _Forked:
    """The part of Popen a GradingWorker uses, for a worker forked from this process."""

    def __init__(self, argv: list[str], log, zygote: int | None = None):
        sys.stdout.flush()
        sys.stderr.flush()
        tasks_r, tasks_w = os.pipe()
        results_r, results_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            _become_worker(argv, tasks_r, results_w, log.fileno(), zygote)
        os.close(tasks_r)
        os.close(results_w)
        self.pid, self.returncode = pid, None
        self.stdin = open(tasks_w, "w", encoding="utf-8", buffering=1)
        self.stdout = open(results_r, "r", encoding="utf-8")

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 0
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.01)
        return self.returncode


class GradingWorker:
    """A long-lived grading process (`python -m autograder.pipeline.workers.worker --serve`), asked one
    task at a time; the local pool and each Dask worker run the same."""

    def __init__(self, command: list[str], log: Path, fork: bool = False, zygote: int | None = None):
        self.log = open(log, "ab")
        if fork and threading.active_count() == 1:  # forking while other threads run is not safe
            self.proc = _Forked(command[3:], self.log, zygote)  # the arguments after `python -m <module>`
        else:
            self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                         text=True, bufsize=1, start_new_session=True)
        self.lines: queue.Queue = queue.Queue()

    def start(self) -> "GradingWorker":
        """Start reading its answers (a thread: so fork every worker first)."""
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def _pump(self):
        for line in self.proc.stdout:
            if line.startswith(RESULT_PREFIX):
                self.lines.put(line[len(RESULT_PREFIX):])
        self.lines.put(None)  # the worker exited

    def ask(self, task: Task, budget: float, still_running=None) -> Answer | None:
        """The worker's answer for one task, None if it died, or raises TimeoutError.

        still_running(seconds), if given, is called every STILL_RUNNING_EVERY seconds of waiting."""
        try:
            self.proc.stdin.write(task.to_line())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        started = time.monotonic()
        while True:
            left = budget - (time.monotonic() - started)
            try:
                line = self.lines.get(timeout=max(0.0, min(left, STILL_RUNNING_EVERY) if still_running else left))
                break
            except queue.Empty:
                if time.monotonic() - started >= budget:
                    raise TimeoutError from None
                still_running(time.monotonic() - started)
        return Answer.from_line(line) if line is not None else None

    def stop(self, kill: bool = False):
        if kill:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def share_zygote(jobs: int):
    """Start the warm zygote that this run's forked workers share, before this process imports
    nbgrader, so it loads on the idle core and once; (its launcher, to close() after the run, and
    a connection for each worker, for start_workers)."""
    from ...judge.judge import ZygoteLauncher
    launcher = ZygoteLauncher()
    return launcher, launcher.share(max(1, jobs))


@contextlib.contextmanager
def zygote_for_run(jobs: int | None, executor: str, cluster: str | None):
    """The connections of share_zygote for a run whose workers are forked here (the sandbox
    executor, the local pool), stopped when the run ends; None for any other run."""
    if executor != "sandbox" or cluster:
        yield None
        return
    launcher, connections = share_zygote(job_count(jobs))
    try:
        yield connections
    finally:
        launcher.close()


def start_workers(settings: WorkerSettings, jobs: int, zygote: list | None = None,
                  release: Path | None = None) -> list[GradingWorker]:
    """Start the workers now, forked from this process once it has imported the grading modules
    and rendered the `release` notebook's feedback page (worker.warm_feedback), so that they
    start warm while the course is set up. Forked workers adopt a connection each of `zygote`
    (share_zygote's); those it does not reach start a zygote of their own."""
    from .worker import preload, warm_feedback
    preload()
    if release is not None and settings.executor == "sandbox":  # spawned workers warm up by themselves
        warm_feedback(release)
    logs = settings.course / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    command = worker_command(settings)
    connections = list(zygote or [])
    # A Jupyter kernel's client (zmq, asyncio) must not inherit this process's: spawn those workers.
    fork = settings.executor == "sandbox"
    try:
        workers = [GradingWorker(command, logs / f"worker-{slot}.log", fork=fork,
                                 zygote=connections[slot].fileno() if fork and slot < len(connections) else None)
                   for slot in range(max(1, jobs))]
    finally:
        for connection in connections:
            connection.close()  # each is its worker's now, or nobody's
    return [worker.start() for worker in workers]


class LocalPool:
    """The local executor: `jobs` grading workers on this machine, started at once (start_workers)
    so that they warm up while the course is set up; any worker after those is a fresh interpreter."""

    def __init__(self, settings: WorkerSettings, jobs: int, zygote: list | None = None,
                 release: Path | None = None, prestart: bool = True):
        self.settings, self.jobs = settings, max(1, jobs)
        self.command = worker_command(settings)
        self.budget = budget(settings.limits)
        (settings.course / "logs").mkdir(parents=True, exist_ok=True)
        self.idle = start_workers(settings, self.jobs, zygote, release) if prestart else []

    def grade_all(self, tasks: Sequence[Task], on_done: OnDone | None = None,
                  still_running: StillRunning | None = None, alone: bool = False) -> dict[str, Outcome]:
        """Grade every task ({student: outcome}), on the started workers first. An interrupt
        (Ctrl-C) ends every worker at once, each with all it started (its process group), before it
        is raised again."""
        prestarted, self.idle = self.idle, []
        batch = _Batch(self, tasks, on_done, still_running)
        slots = max(1, min(1 if alone else self.jobs, len(tasks)))
        for idle in prestarted[slots:]:
            idle.stop()
        first = prestarted + [None] * slots  # a slot without a started worker starts one
        threads = [threading.Thread(target=batch.serve, args=(slot, first[slot]), daemon=True) for slot in range(slots)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        except BaseException:  # Ctrl-C (KeyboardInterrupt) or any other end: no worker outlives the run
            batch.stopping.set()
            for worker in [*batch.live.values(), *prestarted]:
                worker.stop(kill=True)
            remove_orphans()  # what the killed workers' submissions had running, and their scratch
            raise
        return batch.outcomes

    def close(self) -> None:
        """Stop the workers no batch used (a run that failed while setting up)."""
        for worker in self.idle:
            worker.stop(kill=True)
        self.idle = []


class _Batch:
    """One grade_all: a queue of tasks served by a thread per slot, each with one worker at a time."""

    def __init__(self, pool: LocalPool, tasks: Sequence[Task], on_done: OnDone | None,
                 still_running: StillRunning | None):
        self.pool, self.on_done, self.still_running = pool, on_done, still_running
        self.todo: queue.Queue = queue.Queue()
        for task in tasks:
            self.todo.put(task)
        self.outcomes: dict[str, Outcome] = {}
        self.lock = threading.Lock()
        self.live: dict[int, GradingWorker] = {}  # slot -> its worker, for an interrupt to end
        self.stopping = threading.Event()

    def serve(self, slot: int, worker: GradingWorker | None) -> None:
        """Grade tasks until none is left; a worker that failed is never reused: a fresh one takes over."""
        while not self.stopping.is_set():
            try:
                task = self.todo.get_nowait()
            except queue.Empty:
                break
            started = time.monotonic()
            answer, worker = self._ask(slot, worker, task)
            if answer is None:  # the run is being stopped
                break
            if not answer.ok or answer.retire:
                if worker is not None:
                    worker.stop(kill=not answer.retire)  # a retiring worker exits by itself
                worker = None
            self._done(outcome_for(task.student, answer, time.monotonic() - started, self.pool.budget))
        if worker is not None:
            worker.stop()

    def _ask(self, slot: int, worker: GradingWorker | None, task: Task):
        """(the answer to `task`, None once the run is being stopped; the worker that answered)."""
        report = None
        if self.still_running:
            def report(seconds, student=task.student):
                if not self.stopping.is_set():
                    self.still_running(student, seconds)
        try:
            if worker is None:
                log = self.pool.settings.course / "logs" / f"worker-{slot}.log"
                worker = GradingWorker(self.pool.command, log).start()
            self.live[slot] = worker
            if self.stopping.is_set():
                return None, worker
            answer = worker.ask(task, self.pool.budget, report)
            if self.stopping.is_set():
                return None, worker
        except TimeoutError:
            answer = Answer.timed_out()
        except Exception as exc:  # noqa: BLE001 - no worker could be started or asked: this task only
            answer = Answer.failed(Stage.WORKER, f"{type(exc).__name__}: {exc}")
        return answer or Answer.worker_gone(), worker

    def _done(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes[outcome.student] = outcome
        if self.on_done:
            try:
                self.on_done(outcome)
            except Exception:  # noqa: BLE001 - a progress display never stops the batch
                pass
