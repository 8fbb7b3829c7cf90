"""The CPU clock of a judged child, read from outside it (trusted side).

A busy machine stretches wall time, not CPU time, so the judge charges a submission for the CPU
its own processes used: user + system time of the launched process and of every descendant
(the pid namespace's first process, the student's process, anything it forked), plus the time
of descendants already reaped, as the kernel reports it in /proc/<pid>/stat. Nothing the child
says about itself is believed. Wall time is only a generous backstop (WALL_FACTOR x the limit, inside the worker's
own budget of pipeline/pool.py).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

#: Wall time allowed per CPU second of the limit before the judge stops waiting anyway. Measured:
#: a 2-core machine at load average 17 gave a busy child 0.12 CPU seconds per wall second.
WALL_FACTOR = 10.0
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: A reading older than this walks /proc again for new descendants (the first one always does).
RESCAN_SECONDS = 0.5


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of pid and its reaped children), or None when pid is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces or ')'
    # after the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15), counted from state=1
    try:
        ppid = int(fields[1])
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    except (IndexError, ValueError):
        return None
    return ppid, ticks / _TICKS


def _descendants(root: int) -> list[int]:
    """root and its live descendants (one scan of /proc), root first; [] when root is gone."""
    parents = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if name.isdigit():
            found = _stat(int(name))
            if found is not None:
                parents[int(name)] = found[0]
    if root not in parents:
        return []
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.append(pid)
            todo.extend(children.get(pid, ()))
    return tree


def tree_cpu_seconds(root: int) -> float | None:
    """CPU seconds used by root and all its live descendants (with what they reaped); None if
    root is gone."""
    return CpuClock(root).seconds(rescan=True) if _stat(root) else None


class CpuClock:
    """CPU seconds a launched child (and its descendants) has used; the last reading is kept
    once it is gone. A rescan walks /proc for new descendants; a plain reading only rereads the
    processes found last time (cheap enough to take before and after every call), unless the
    last walk is older than RESCAN_SECONDS."""

    def __init__(self, pid: int):
        self.pid = pid
        self.last = 0.0
        self._tree = [pid]
        self._scanned = float("-inf")

    def seconds(self, rescan: bool = False) -> float:
        if rescan or time.monotonic() - self._scanned > RESCAN_SECONDS:
            self._tree = _descendants(self.pid) or [self.pid]
            self._scanned = time.monotonic()
        members, total = set(self._tree), 0.0
        for pid in self._tree:
            found = _stat(pid)
            if found is not None and (pid == self.pid or found[0] in members):
                total += found[1]
        if total:
            self.last = max(self.last, total)
        return self.last


@dataclass
class Budget:
    """What one step (a cell while loading, or a judged call) may use: CPU seconds of the child,
    and wall seconds as a backstop."""
    cpu_seconds: float
    wall_seconds: float

    @classmethod
    def for_cpu(cls, cpu_seconds: float) -> "Budget":
        return cls(cpu_seconds, WALL_FACTOR * cpu_seconds)


def describe_cpu(used: float, limit: float) -> str:
    """'3.2 of 30 CPU seconds': the words a timeout message uses."""
    return f"{used:.1f} of {limit:g} CPU seconds"
