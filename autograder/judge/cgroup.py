"""Kernel control groups for a judged child's whole process tree (trusted side).

One job: make a group for one child, let the zygote put the child in it before it runs student
code, read the group's CPU time, cap its memory and process count, kill everything in it, and
remove it. Every process the child starts is in the group and stays there: the child runs as
an unprivileged uid, and the group's files belong to the grader (it cannot write them, so it
cannot move itself out or raise a cap). The CPU counter includes processes already reaped;
the memory cap covers every process and the tmpfs and shared-memory pages they write.

cgroup v2 (one hierarchy, `cgroup.controllers`): cpu.stat's usage_usec, memory.max (with
memory.swap.max 0 and memory.oom.group), pids.max, cgroup.kill. cgroup v1 (a hierarchy per
controller, as on hosts that have not moved on): cpuacct.usage, memory.limit_in_bytes (and
memory.memsw.limit_in_bytes where swap is accounted), pids.max; killed by signalling every
process listed until the list shows none not yet signalled (the pids cap bounds a fork storm;
the v1 freezer is left out: entering one more hierarchy costs every child a few milliseconds).
Groups are made under this process's own group in each hierarchy, named gradcheck-<pid>-<n>;
where none can be made `unavailable()` says why, and the judge falls back to per-process
limits and its /proc clock (`grade` says so under WEAK ISOLATION).
"""
from __future__ import annotations

import atexit
import itertools
import os
import signal
import time
from dataclasses import dataclass, field

from .mounts import listed, parse

#: Controllers a v1 group is made in (cpuacct and memory are required, pids used where mounted).
V1_REQUIRED = ("cpuacct", "memory")
V1_OPTIONAL = ("pids",)
PREFIX = "gradcheck-"
#: How long kill() keeps signalling a group whose processes are still forking or exiting.
KILL_SECONDS = 5.0
_COUNTER = itertools.count()


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def _own_groups(text: str) -> dict[str, str]:
    """{controller or "" for v2: this process's group path} from /proc/self/cgroup."""
    groups = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for name in (parts[1].split(",") if parts[1] else [""]):
                groups[name] = parts[2]
    return groups


@dataclass
class Layout:
    """Where this process makes groups: version 1 (a folder per controller) or 2 (one folder,
    with the controllers it may enable for its children)."""
    version: int
    places: dict[str, str]  # controller -> folder (v1); "" -> folder (v2)
    controllers: set[str] = field(default_factory=set)  # v2: those enabled for groups made here

    def describe(self) -> str:
        names = sorted(self.places) if self.version == 1 else ["cpu.stat", *sorted(self.controllers)]
        return f"cgroup v{self.version}: {', '.join(names)}"


def _writable_folder(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _v2_layout(mount: str, own: str) -> Layout | str:
    """A v2 layout: under our own group if its children may have memory and pids, else under
    the hierarchy's root (which may hold processes); without those controllers where neither."""
    wanted = {"memory", "pids"}
    tried = []
    for base in dict.fromkeys([os.path.join(mount, own.lstrip("/")).rstrip("/"), mount]):
        if not _writable_folder(base):
            tried.append(f"{base} is not writable")
            continue
        available = set((_read(os.path.join(base, "cgroup.controllers")) or "").split())
        enabled = set((_read(os.path.join(base, "cgroup.subtree_control")) or "").split())
        missing = (wanted & available) - enabled
        if missing:
            try:
                _write(os.path.join(base, "cgroup.subtree_control"), " ".join("+" + c for c in sorted(missing)))
                enabled |= missing
            except OSError:  # processes in a non-root group: its children may not have controllers
                pass
        if wanted <= enabled or base == mount:
            return Layout(2, {"": base}, enabled & wanted)
    return "; ".join(tried) or "no writable cgroup v2 folder"


def _v1_layout(mounts, own: dict[str, str]) -> Layout | str:
    places = {}
    for point, kind, options in mounts:
        if kind != "cgroup":
            continue
        for name in V1_REQUIRED + V1_OPTIONAL:
            if name in options and name not in places:
                places[name] = os.path.join(point, own.get(name, "/").lstrip("/")).rstrip("/")
    missing = [name for name in V1_REQUIRED if name not in places]
    if missing:
        return f"no cgroup v1 hierarchy for {', '.join(missing)}"
    unwritable = [path for path in places.values() if not _writable_folder(path)]
    if unwritable:
        return f"{unwritable[0]} is not writable by this user"
    return Layout(1, places)


def find_layout(mountinfo: str | None = None, own: str | None = None) -> Layout | str:
    """Where this process can make groups, or why it cannot. v2 where its hierarchy has the memory
    controller, else v1 where cpuacct and memory are mounted, else v2 with what it has."""
    mounts = [(point, kind, options) for point, kind, options in
              (parse(mountinfo) if mountinfo is not None else listed()) if kind in ("cgroup", "cgroup2")]
    groups = _own_groups(own if own is not None else (_read("/proc/self/cgroup") or ""))
    unified = next((point for point, kind, _ in mounts if kind == "cgroup2"), None)
    if unified is not None:
        root_controllers = set((_read(os.path.join(unified, "cgroup.controllers")) or "").split())
        if "memory" in root_controllers:
            return _v2_layout(unified, groups.get("", "/"))
    v1 = _v1_layout(mounts, groups)
    if isinstance(v1, Layout) or unified is None:
        return v1
    v2 = _v2_layout(unified, groups.get("", "/"))
    return v2 if isinstance(v2, Layout) else f"{v1}; {v2}"


def _signal_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


class Group:
    """One child's control group: a folder per v1 hierarchy, or one v2 folder."""

    def __init__(self, layout: Layout, memory_bytes: int, processes: int, name: str | None = None):
        self.layout = layout
        name = name or f"{PREFIX}{os.getpid()}-{next(_COUNTER)}"
        self.folders: dict[str, str] = {}
        try:
            for controller, place in layout.places.items():
                folder = os.path.join(place, name)
                os.mkdir(folder, 0o755)
                self.folders[controller] = folder
            self._cap(memory_bytes, processes)
        except OSError:
            self.remove()
            raise

    # -- the folders -----------------------------------------------------------------------------
    def _file(self, controller: str, name: str) -> str | None:
        folder = self.folders.get("" if self.layout.version == 2 else controller)
        return None if folder is None else os.path.join(folder, name)

    def _cap(self, memory_bytes: int, processes: int) -> None:
        if self.layout.version == 2:
            if "memory" in self.layout.controllers:
                _write(self._file("memory", "memory.max"), str(memory_bytes))
                for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
                    if os.path.exists(self._file("memory", name)):
                        _write(self._file("memory", name), value)
            if "pids" in self.layout.controllers:
                _write(self._file("pids", "pids.max"), str(processes))
            return
        _write(self._file("memory", "memory.limit_in_bytes"), str(memory_bytes))
        swap = self._file("memory", "memory.memsw.limit_in_bytes")
        if os.path.exists(swap):  # memory and swap together: swapping out does not escape the cap
            _write(swap, str(memory_bytes))
        if "pids" in self.folders:
            _write(self._file("pids", "pids.max"), str(processes))

    @property
    def procs(self) -> list[str]:
        """The cgroup.procs file of each folder: a pid written to each is in the group."""
        return [os.path.join(folder, "cgroup.procs") for folder in self.folders.values()]

    def add(self, pid: int) -> None:
        for path in self.procs:
            _write(path, str(pid))

    def pids(self) -> list[int]:
        """The live processes in the group."""
        found: set[int] = set()
        for path in self.procs:
            found.update(int(p) for p in (_read(path) or "").split() if p.isdigit())
        return sorted(found)

    # -- readings --------------------------------------------------------------------------------
    def cpu_seconds(self) -> float | None:
        """CPU seconds of every process the group has held, or None once it is gone."""
        if self.layout.version == 2:
            for line in (_read(self._file("", "cpu.stat")) or "").splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
            return None
        text = _read(self._file("cpuacct", "cpuacct.usage"))
        return int(text) / 1e9 if text and text.strip().isdigit() else None

    def _counter(self, controller: str, name: str, key: str) -> int:
        path = self._file(controller, name)
        for line in ((_read(path) if path else None) or "").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
                return int(parts[1])
        return 0

    def memory_exceeded(self) -> bool:
        """Whether the kernel killed a process of the group for going over its memory cap."""
        if self.layout.version == 2:
            return self._counter("memory", "memory.events", "oom_kill") > 0
        return self._counter("memory", "memory.oom_control", "oom_kill") > 0

    def processes_exceeded(self) -> bool:
        """Whether a fork or clone in the group was refused for its process cap."""
        return self._counter("pids", "pids.events", "max") > 0

    # -- the end ---------------------------------------------------------------------------------
    def kill(self) -> None:
        """SIGKILL every process in the group (cgroup.kill on v2). A process that forks meanwhile
        is caught by listing the group again until it shows no process not yet signalled; after a
        few rounds the group is frozen (where the kernel allows) so that none can fork at all."""
        if not self.folders:
            return
        if self.layout.version == 2 and os.path.exists(self._file("", "cgroup.kill")):
            try:
                _write(self._file("", "cgroup.kill"), "1")
                return
            except OSError:
                pass
        signalled: set[int] = set()
        until = time.monotonic() + KILL_SECONDS
        for round_ in itertools.count():
            new = set(self.pids()) - signalled
            if not new or time.monotonic() > until:
                return
            if round_ == 3:
                self._frozen_kill()
                continue
            _signal_all(new)
            signalled |= new

    def _frozen_kill(self) -> None:
        """On v2 freeze the group, signal everything in it, thaw it (a killed process dies once
        thawed); on v1 signal everything once more."""
        path = self._file("", "cgroup.freeze") if self.layout.version == 2 else None
        if path is None or not os.path.exists(path):
            _signal_all(self.pids())
            return
        try:
            _write(path, "1")
            _signal_all(self.pids())
        finally:
            try:
                _write(path, "0")
            except OSError:
                pass

    def remove(self) -> None:
        """Kill what is left and remove the folders; one that a dying process still holds is
        removed later (remove_pending), so that nobody waits for it."""
        self.kill()
        for controller, folder in list(self.folders.items()):
            try:
                os.rmdir(folder)
            except FileNotFoundError:
                pass
            except OSError:
                _PENDING.append(folder)
            self.folders.pop(controller, None)


#: Folders of killed groups whose processes had not finished dying when they were removed.
_PENDING: list[str] = []


def remove_pending(wait: float = 0.0) -> bool:
    """Remove the folders remove() left (signalling anything still in them, to be sure), trying
    for up to `wait` seconds; whether none is left."""
    until = time.monotonic() + wait
    while True:
        for folder in list(_PENDING):
            procs = os.path.join(folder, "cgroup.procs")
            _signal_all(int(p) for p in (_read(procs) or "").split() if p.isdigit())
            try:
                os.rmdir(folder)
            except FileNotFoundError:
                pass
            except OSError:
                continue
            _PENDING.remove(folder)
        if not _PENDING or time.monotonic() >= until:
            return not _PENDING
        time.sleep(0.01)


_LAYOUT: list = []
atexit.register(remove_pending, 5.0)


def _layout() -> Layout | str:
    if not _LAYOUT:
        _LAYOUT.append(find_layout())
        if isinstance(_LAYOUT[0], Layout):
            remove_stale(_LAYOUT[0])
    return _LAYOUT[0]


def remove_stale(layout: Layout) -> None:
    """Remove the groups a grading process that is gone left behind (killed before it could)."""
    for place in layout.places.values():
        try:
            names = os.listdir(place)
        except OSError:
            continue
        for name in names:
            owner = name[len(PREFIX):].split("-")[0] if name.startswith(PREFIX) else ""
            if owner.isdigit() and not os.path.exists(f"/proc/{owner}"):
                stale = Group.__new__(Group)
                stale.layout, stale.folders = layout, {c: os.path.join(p, name) for c, p in layout.places.items()
                                                        if os.path.isdir(os.path.join(p, name))}
                stale.remove()


def remove_stale_groups(wait: float = 5.0) -> None:
    """remove_stale, now, with this machine's layout (where groups can be made at all), waiting up
    to `wait` seconds for killed processes to finish dying so that their folders go too."""
    layout = _layout()
    if isinstance(layout, Layout):
        remove_stale(layout)
        remove_pending(wait)


def make_group(memory_mb: int, processes: int) -> Group | None:
    """A fresh group for one child with its caps, or None where none can be made here."""
    layout = _layout()
    if not isinstance(layout, Layout):
        return None
    remove_pending()
    try:
        return Group(layout, int(memory_mb) * 1024 * 1024, int(processes))
    except OSError:
        return None


def in_force() -> str | None:
    """What a child's group gives, for the record, or None where no group can be made."""
    layout = _layout()
    if not isinstance(layout, Layout):
        return None
    capped = ("memory and processes" if layout.version == 1 and "pids" in layout.places
              else "memory" if layout.version == 1
              else " and ".join(c.replace("pids", "processes") for c in sorted(layout.controllers)) or "nothing")
    return (f"control group of its own ({layout.describe()}): CPU time of every process, reaped or not; "
            f"{capped} capped for the whole submission; all of it killed at the end")


def unavailable() -> str | None:
    """Why no group can be made here, or None where one can."""
    layout = _layout()
    return None if isinstance(layout, Layout) else layout
