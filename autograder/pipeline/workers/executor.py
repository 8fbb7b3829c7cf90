"""What an executor is: where a run's tasks are graded, the local pool or a Dask cluster (trusted side).

Both implement `Executor` as equals: tasks in (messages.Task), one outcome per task out
(messages.Outcome), each submission given the same time budget (`budget`, i.e. the judge's
budget.task_seconds) and graded by the same long-lived worker process (`worker_command`).
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Protocol, Sequence

from ...judge.budget import task_seconds
from ...judge.sandbox import Limits
from .messages import Outcome, Task, WorkerSettings

#: Told of each outcome as it arrives (a progress bar).
OnDone = Callable[[Outcome], None]
#: Told of a student still being graded, and for how many seconds (a slow notebook says so).
StillRunning = Callable[[str, float], None]


class ExecutorError(Exception):
    """The executor cannot grade at all (e.g. its cluster cannot be reached); the message says what to fix."""


class Executor(Protocol):
    """Grades a run's tasks; started with the run, closed when it ends."""

    def grade_all(self, tasks: Sequence[Task], on_done: OnDone | None = None,
                  still_running: StillRunning | None = None, alone: bool = False) -> dict[str, Outcome]:
        """Grade every task; {student: outcome}, an outcome for every task. `alone`: one at a time,
        on fresh workers (a grade must not depend on what else the machine was doing)."""

    def close(self) -> None:
        """Stop every worker it started, with all they started (also after an interrupt)."""


def job_count(jobs: int | None) -> int:
    """The workers a run starts: `jobs`, or one per core."""
    return max(1, jobs or os.cpu_count() or 1)


def budget(limits: Limits) -> float:
    """Seconds one submission may take in all, on either executor (budget.task_seconds)."""
    return task_seconds(limits.wall_seconds)


def worker_command(settings: WorkerSettings) -> list[str]:
    """The command line of a grading worker (workers/worker.py) with these settings."""
    return [sys.executable, "-m", "autograder.pipeline.workers.worker", "--serve", "--settings", settings.to_json()]
