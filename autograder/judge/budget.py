"""The time one submission may take: one home for it, read by the judge and by every executor
(trusted side).

`--time-limit` is CPU seconds of the submission's own processes (cpu_clock.py reads them from
outside). Its wall time is set once by the trusted side, when the submission or one of its steps
(a cell while loading, a judged call) starts: the CPU budget plus a fixed margin, never
stretched or restarted by anything the child sends. A child that sleeps or waits is charged that
wall time as one that computes is; only the time its processes (and the judge serving them)
waited for a CPU, which the kernel reports (run-queue delay, /proc/<pid>/task/<tid>/schedstat), is
not charged: a busy machine does not change a grade. A sleeping submission therefore takes at most
its CPU limit plus SUBMISSION_MARGIN_SECONDS of wall time. One that reaches the backstop did
so because it waited for a CPU, and is graded again alone.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Share of the submission's CPU time that one cell (while loading) or one call may take, and the
#: least it may take: a looping cell or call is cut off while time remains for the others.
STEP_SHARE = 0.25
MIN_STEP_SECONDS = 5.0
#: Wall seconds a step may take beyond its CPU budget: starting a child, reading its answers,
#: drawing its figures (measured idle: well under a second per step).
STEP_MARGIN_SECONDS = 5.0
#: Wall seconds a whole submission may take beyond its CPU limit (its steps' margins and the
#: fresh children a crash or timeout needs).
SUBMISSION_MARGIN_SECONDS = 30.0
#: Wall seconds nbgrader's own work on one submission may take on top (sanitising, the gradebook,
#: feedback), and how many times a task may need the submission's budget (the kernel executor runs
#: the notebook in a Jupyter kernel before the judge does).
NBGRADER_SECONDS = 120.0
RUNS_PER_TASK = 2
#: Wall time a step or submission may take in all, as a multiple of its wall budget, however
#: long its processes waited for a CPU: reached only on a machine so busy that they waited for
#: most of it, and then the submission is graded again alone.
BACKSTOP_FACTOR = 4.0


@dataclass(frozen=True)
class Budget:
    """What a step or a submission may use: CPU seconds of its processes, wall seconds in all."""
    cpu_seconds: float
    wall_seconds: float


def submission_budget(cpu_limit: float) -> Budget:
    """A whole submission's budget, for a CPU limit of `cpu_limit` seconds (`--time-limit`)."""
    return Budget(float(cpu_limit), float(cpu_limit) + SUBMISSION_MARGIN_SECONDS)


def step_budget(cpu_limit: float) -> Budget:
    """One cell's or one judged call's budget within a submission of `cpu_limit` CPU seconds."""
    cpu = max(MIN_STEP_SECONDS, STEP_SHARE * float(cpu_limit))
    return Budget(cpu, cpu + STEP_MARGIN_SECONDS)


def task_seconds(cpu_limit: float) -> float:
    """Wall seconds an executor (the local pool, a Dask worker) waits for one submission's task
    before it gives it up: every run of the notebook the task holds, each to its backstop, and
    nbgrader's own work."""
    return RUNS_PER_TASK * backstop_seconds(submission_budget(cpu_limit)) + NBGRADER_SECONDS


def charged_wall(elapsed: float, waited: float) -> float:
    """The wall seconds charged for `elapsed` seconds during which the submission's processes and
    the judge serving them waited `waited` seconds for a CPU (the kernel's run-queue delay): the
    machine's business is not the child's, its own sleeping and waiting is."""
    return elapsed - min(max(waited, 0.0), elapsed)


def backstop_seconds(budget: Budget) -> float:
    """Wall seconds after which a step or submission ends whatever it was charged."""
    return BACKSTOP_FACTOR * budget.wall_seconds


def describe_wall(limit: float) -> str:
    """'50 wall seconds': the words a wall-time message uses (the limit, never a reading)."""
    return f"{limit:g} wall seconds"
