"""The CPU clock of a judged child, read from outside it (trusted side).

A busy machine stretches wall time, not CPU time, so the judge charges a submission for the CPU
its own processes used: user + system time of the launched process and of every descendant
(the pid namespace's first process, the student's process, anything it forked), plus the time
of descendants already reaped, as the kernel reports it in /proc/<pid>/stat. Nothing the child
says about itself is believed. Where the child has a control group of its own (cgroup.py), its
counter is the clock (GroupClock): every process of the group counts, reaped or not; the /proc
walk is the fallback. How long in wall time a step may take is budget.py's; RunDelay reads the
kernel's evidence that the machine, not the child, used it up.
"""
from __future__ import annotations

import os
import time

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

    def members(self) -> list[int]:
        """The processes found by the last walk (for their run-queue delay)."""
        return list(self._tree)


class GroupClock:
    """CPU seconds of every process a control group has held (cgroup.Group): the kernel's own
    counter, so a child reaped at once is charged as a long-lived one is."""

    def __init__(self, group):
        self.group = group
        self.last = 0.0

    def seconds(self, rescan: bool = False) -> float:
        reading = self.group.cpu_seconds()
        if reading is not None:
            self.last = max(self.last, reading)
        return self.last

    def members(self) -> list[int]:
        return self.group.pids()


def clock_for(pid: int, group=None):
    """The clock of a launched child: its group's counter where it has one, else the /proc walk."""
    return GroupClock(group) if group is not None else CpuClock(pid)


def _schedstat_delay(path: str) -> float | None:
    """The run-queue delay in a schedstat file (second field, nanoseconds), in seconds."""
    try:
        with open(path, "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def thread_run_delay() -> float:
    """Seconds the calling thread has waited for a CPU since it started (0 where unknown)."""
    return _schedstat_delay("/proc/thread-self/schedstat") or 0.0


class RunDelay:
    """Seconds the tasks of a child's processes have waited for a CPU (the kernel's schedstat),
    the last reading of each task kept once it is gone. Losing a task that ended between two
    readings only takes evidence away: a child is never credited with waiting it did not do."""

    def __init__(self):
        self._seen: dict[int, float] = {}

    def seconds(self, pids) -> float:
        for pid in pids:
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                delay = _schedstat_delay(f"/proc/{pid}/task/{tid}/schedstat")
                if delay is not None:
                    self._seen[int(tid)] = max(delay, self._seen.get(int(tid), 0.0))
        return sum(self._seen.values())


def describe_cpu(used: float, limit: float) -> str:
    """'3.2 of 30 CPU seconds': the words a timeout message uses."""
    return f"{used:.1f} of {limit:g} CPU seconds"
