"""The trusted side of the judge: runs a notebook's checks against code in a limited child.

`judge_notebook` loads the student's code cells into a fresh child process, then runs every
exercise's hidden check through a RemoteSubject: the check's inputs go to the child, plain
results come back and are compared here. A child that crashes, loops or exits costs only the
exercise it was working on; the next exercise gets a fresh child.
"""
from __future__ import annotations

import atexit
import builtins
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..course.graders import check_arguments, checks_for, child_side_source, resolve
from ..grading.results import Result, run_check
from ..grading.status import Status
from ..grading.subject import StudentError, modified_message
from ..grading.tolerances import Tolerances
from . import cgroup
from .assembly import load_part, program_source
from .budget import Budget, backstop_seconds, charged_wall, describe_wall, step_budget, submission_budget
from .cpu_clock import RunDelay, clock_for, describe_cpu, thread_run_delay
from .prelude import release_prelude
from .sandbox import (Limits, Scratch, clean_env, hidden_paths, limits_spec, named_for_this_process, python_command,
                      remove_orphan_folders, submission_uid, sweep)

codec = load_part("codec")  # program/codec.py: the wire format, read here as the child writes it
#: The warm zygote's program (program/README.md), as it was when the kit was imported.
ZYGOTE_PROGRAM = program_source()
#: What the zygote's folder (its cwd and HOME, a mkdtemp of ours) is called, and its program file:
#: `ps` shows `python -I /tmp/gradcheck-zygote-XXXX/zygote.py FD ...`.
ZYGOTE_FOLDER_PREFIX, ZYGOTE_FILE = "gradcheck-zygote-", "zygote.py"
#: How often the child's CPU clock is read while the judge waits for an answer.
POLL_SECONDS = 0.5
#: Exception types from outside builtins whose names a verdict may show (numpy's).
KNOWN_EXCEPTIONS = frozenset({"LinAlgError", "AxisError"})
#: Exceptions that mean a cell does not compile, so the function it defines is missing.
COMPILE_ERRORS = frozenset({"SyntaxError", "IndentationError", "TabError"})
#: Bytes of the child's own stdout/stderr (fd level, outside any cell) kept for the log.
OUTPUT_TAIL = 4096


def _close(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


class Launched:
    """A started child: its pid and our ends of its four pipes (requests, replies, its stdout and
    stderr, and the exit status its parent got from waitpid)."""

    def __init__(self, pid: int, req_w: int, rep_r: int, out_r: int, status_r: int, group=None):
        self.pid, self.req_w, self.rep_r, self.out_r, self.status_r = pid, req_w, rep_r, out_r, status_r
        self.group = group  # its control group (cgroup.Group), or None where none could be made
        self.output = bytearray()
        self._status: int | None = None

    def drain(self) -> None:
        """Read what the child wrote to its stdout/stderr, keeping only the tail."""
        try:
            chunk = os.read(self.out_r, 1 << 16)
        except OSError:
            chunk = b""
        if not chunk:
            _close(self.out_r)
            self.out_r = None
            return
        self.output += chunk
        del self.output[:-OUTPUT_TAIL]

    def exit_status(self, wait: float = 2.0) -> int | None:
        if self._status is None and self.status_r is not None:
            ready, _, _ = select.select([self.status_r], [], [], wait)
            if ready:
                try:
                    self._status = int(os.read(self.status_r, 32) or b"x")
                except (OSError, ValueError):
                    pass
        return self._status

    def kill(self) -> None:
        """Kill the child and, where it has a group, every process in it (wherever it went)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.group is not None:
            self.group.kill()

    def close(self) -> None:
        self.kill()
        if self.group is not None:
            self.group.remove()
        for name in ("req_w", "rep_r", "out_r", "status_r"):
            _close(getattr(self, name))
            setattr(self, name, None)


#: Wall seconds a prelude may take in the warm interpreter (imports and a plot take well under 5).
PRELUDE_SECONDS = 60.0


def _write_program(home: Path) -> Path:
    """Write ZYGOTE_PROGRAM to ZYGOTE_FILE in home (a fresh mkdtemp folder of ours, mode 0700:
    nobody else can write or name a file there), created and never through a link (O_EXCL |
    O_NOFOLLOW, relative to the folder's descriptor), mode 0600; the zygote reads it once, at
    start, and removes the folder when it ends."""
    folder = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fd = os.open(ZYGOTE_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=folder)
    finally:
        os.close(folder)
    with open(fd, "w", encoding="utf-8") as program:
        program.write(ZYGOTE_PROGRAM)
    return home / ZYGOTE_FILE


class ZygoteLauncher:
    """Forks each child from a warm interpreter that has numpy and matplotlib imported.

    The zygote is this launcher's own (started on first use), or one another process started
    and shares (`ZygoteLauncher(adopted=connection)`, see `share`): `grade` starts one zygote for
    all its forked workers before it imports nbgrader, so it loads on the idle core and once. A
    launcher whose zygote has gone, whoever started it, starts one of its own."""

    def __init__(self, adopted: socket.socket | None = None):
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._owner: int | None = None  # the pid that started self._proc: only it stops it
        self._control: socket.socket | None = adopted
        self._spare: list[socket.socket] = []  # connections for the processes that share it
        self._home: Path | None = None
        self._prelude: tuple | None = None  # the prelude the running zygote holds
        self._declined: set = set()  # preludes that failed: never tried again

    @property
    def pid(self) -> int | None:
        """The pid of the zygote this launcher started (None if none, or if it adopted one)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the zygote this launcher started is still running (False for an adopted one)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def home(self) -> Path | None:
        """The folder of the zygote this launcher started, its program and its cwd (None if none)."""
        return self._home

    @property
    def holds_prelude(self) -> bool:
        """Whether the zygote it drives has run a release's opening cells for it (see `prelude`)."""
        return self._prelude is not None

    def _start(self, shares: int = 0) -> None:
        pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(1 + shares)]
        theirs = [pair[1].fileno() for pair in pairs]
        remove_orphan_folders(ZYGOTE_FOLDER_PREFIX)  # of launchers killed before their zygote started
        self._home = Path(tempfile.mkdtemp(prefix=named_for_this_process(ZYGOTE_FOLDER_PREFIX)))
        program = _write_program(self._home)
        self._proc = subprocess.Popen(python_command(str(program), *map(str, theirs)),
                                      env=clean_env(self._home), cwd=self._home, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      pass_fds=theirs, start_new_session=True)
        self._owner = os.getpid()
        for _, end in pairs:
            end.close()
        self._control, self._spare = pairs[0][0], [ours for ours, _ in pairs[1:]]
        self._prelude = None
        atexit.register(self.close)

    def _alive(self) -> bool:
        if self._control is None or (self._proc is not None and self._proc.poll() is not None):
            return False
        # A zygote speaks only when asked: anything to read before a request means it has gone.
        poller = select.poll()  # not select(): any fd number
        poller.register(self._control, select.POLLIN)
        return not poller.poll(0)

    def _running(self) -> None:
        if not self._alive():
            self.close()
            self._start()

    def start(self) -> None:
        """Start the warm interpreter now rather than at the first launch (it loads in parallel)."""
        with self._lock:
            self._running()

    def share(self, processes: int) -> list[socket.socket]:
        """Start a zygote now with a connection for each of `processes` other processes (to hand
        to a forked worker, which adopts it); this launcher keeps its own, to stop it by close()."""
        with self._lock:
            self.close()
            self._start(shares=processes)
            return list(self._spare)  # close() closes them too, wherever they went

    def prelude(self, cells: list, helpers: Path) -> bool:
        """Have the warm interpreter run the release notebook's locked opening cells once, so that
        children start after them (zygote.py says how); whether it holds them now."""
        key = (tuple((int(i), str(s)) for i, s in cells), str(helpers))
        if not cells or key in self._declined:
            return False
        with self._lock:
            self._running()
            if self._prelude is not None:
                return self._prelude == key
            try:
                self._control.settimeout(PRELUDE_SECONDS)
                self._control.send(json.dumps({"prelude": [list(c) for c in key[0]], "helpers": key[1]}).encode())
                reply = json.loads(self._control.recv(4096) or b"{}")
            except (OSError, ValueError):
                reply = {"replace": True}
            finally:
                if self._control is not None:
                    self._control.settimeout(None)
            if reply.get("prelude") is True:
                self._prelude = key
                return True
            self._declined.add(key)
            if reply.get("replace"):  # it ran part of the cells: no child may start from that
                self.close()
            return False

    def launch(self, scratch: Path, limits: Limits, hide=(), uid: int | None = None) -> Launched:
        """Start a child in scratch as uid (the submission's, see sandbox.submission_uid)."""
        with self._lock:
            for attempt in (1, 2):  # a zygote that has just gone (a shared one, say) is replaced once
                self._running()
                theirs, ours = [], []
                for _ in range(4):  # requests (they read), replies, stdout/stderr, exit status (they write)
                    r, w = os.pipe()
                    theirs.append(r if not theirs else w)
                    ours.append(w if not ours else r)
                group = cgroup.make_group(limits.memory_mb, limits.processes)
                request = {"scratch": str(scratch), "limits": limits_spec(limits), "hide": list(hide),
                           "uid": uid, "cgroup": group.procs if group is not None else [],
                           "env": {k: v for k, v in clean_env(scratch).items() if k not in ("PATH",)}}
                try:
                    socket.send_fds(self._control, [json.dumps(request).encode()], theirs)
                    reply = json.loads(self._control.recv(4096) or b"{}")
                except OSError:
                    reply = {}
                finally:
                    for fd in theirs:
                        os.close(fd)
                if "pid" in reply and int(reply["pid"]) > 0:
                    return Launched(int(reply["pid"]), *ours, group=group)
                if group is not None:
                    group.remove()
                for fd in ours:
                    os.close(fd)
                gone = not reply
                self.close()
                if not gone or attempt == 2:
                    break
            raise ChildGone("the warm interpreter did not start a child")

    def close(self) -> None:
        """Stop the zygote if this process started it, else only leave it; forget it either way."""
        mine = self._proc is not None and self._owner == os.getpid()
        if mine and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for connection in [self._control, *self._spare]:
            if connection is not None:
                connection.close()
        if mine and self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
        self._proc, self._control, self._spare, self._home, self._prelude = None, None, [], None, None


_DEFAULT: list = []
# A forked process (a worker forked from `grade`, a worker's feedback helper) starts its own
# zygote if it judges, or adopts one its parent shares with it, and never stops or drives its
# parent's: that one answers the parent.
os.register_at_fork(after_in_child=_DEFAULT.clear)


def default_launcher():
    """One warm zygote per process, started on first use."""
    if not _DEFAULT:
        _DEFAULT.append(ZygoteLauncher())
    return _DEFAULT[0]


def adopt_zygote(connection: socket.socket) -> None:
    """Make this process's launcher the zygote another process shares through `connection`."""
    close_launchers()
    _DEFAULT[:] = [ZygoteLauncher(adopted=connection)]


def close_launchers() -> None:
    """Stop this process's warm zygote now (atexit does it too, for a process that exits normally),
    and remove the control groups whose killed processes had not finished dying."""
    for launcher in _DEFAULT:
        launcher.close()
    cgroup.remove_pending(wait=5.0)


class ChildGone(Exception):
    """The child exited, was killed, or broke the protocol. wall_bound: it ran out of wall time
    while its CPU use was within limits (the machine was slow, not the student's code)."""

    def __init__(self, message: str, status: Status = Status.ERROR, wall_bound: bool = False):
        super().__init__(message)
        self.status, self.wall_bound = status, wall_bound


def code_cells(nb) -> list[tuple[int, str]]:
    """The cells to load: every code cell but the autograded test cells (those are the kit's)."""
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            continue
        cells.append((index, cell.source))
    return cells


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "it stopped answering"
    if returncode == 73:  # zygote.NO_GROUP_EXIT
        return "the grading machine could not put it into its control group"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        reasons = {"SIGXCPU": "it used up its CPU time", "SIGKILL": "it was killed (time or memory limit)",
                   "SIGSEGV": "it crashed (segmentation fault)", "SIGXFSZ": "it wrote a file over the size limit"}
        return reasons.get(name, f"it was ended by {name}")
    return f"it exited with status {returncode} (sys.exit or os._exit in the notebook?)"


@dataclass(frozen=True)
class _Step:
    """Where a step started: the CPU charged, the wall clock, and the waiting for a CPU."""
    cpu: float
    wall: float
    waited: float


class Child:
    """One limited child process holding the student's namespace."""

    def __init__(self, cells, scratch: Path, limits: Limits, wall: "WallClock", launcher, hide=(),
                 cpu_left: float | None = None, uid: int | None = None):
        self.limits, self.wall = limits, wall
        self.cpu_left = limits.wall_seconds if cpu_left is None else cpu_left
        self.launched = launcher.launch(scratch, limits, hide, uid)
        self.clock = clock_for(self.launched.pid, getattr(self.launched, "group", None))
        self.trusted_seconds = 0.0  # judge CPU spent answering the child's calls to trusted functions
        self.run_delay = RunDelay()  # the kernel's evidence that the machine kept it waiting
        self.waited = 0.0  # seconds this child and the judge serving it waited for a CPU, as last read
        self._judge_delay = thread_run_delay()
        self._next_charge = time.monotonic() + POLL_SECONDS
        self._step = _Step(0.0, time.monotonic(), 0.0)
        self._unloaded = [index for index, _ in cells]  # cells whose "loading" may still start a step
        self.req_w, self.rep_r = self.launched.req_w, self.launched.rep_r
        self.sources = {index: source for index, source in cells}
        self.refusal = ""  # why the judge last refused a call to a trusted function
        self.cell_errors: dict[int, str] = {}
        self.cell_outputs: dict[int, list] = {}
        self.current_cell: int | None = None
        self._buffer = bytearray()
        self.send({"cells": cells})

    # -- framing -------------------------------------------------------------------------------
    def send(self, message) -> None:
        data = codec.encode(message)
        try:
            view = memoryview(data)
            while view:
                n = os.write(self.req_w, view)
                view = view[n:]
        except (BrokenPipeError, OSError):
            raise ChildGone(self._death()) from None

    def waiting(self) -> float:
        """Seconds this child's processes and the judge serving it have waited for a CPU so far."""
        judge = thread_run_delay()
        self.waited += max(0.0, judge - self._judge_delay)
        self._judge_delay = judge
        return self.waited + self.run_delay.seconds(self.clock.members())

    def _charge(self, until: float) -> None:
        """Stop the child when its step or the submission used up its CPU time or its wall time;
        wall_bound tells the caller when the kernel says the machine used up the wall time."""
        # The judge's own CPU answering this child's calls to trusted functions counts as its own.
        used = self.clock.seconds(rescan=True) + self.trusted_seconds
        self._next_charge = time.monotonic() + POLL_SECONDS
        self._check_group()
        start, budget = self._step.cpu, self.step_budget().cpu_seconds
        if used - start > budget:
            # the limit, not the reading, goes into the message: a rerun must give the same words
            raise ChildGone(f"it used {describe_cpu(budget, budget)}, the time limit of one step "
                            "(an endless loop, or far too much work?)", Status.TIMEOUT)
        if used > self.cpu_left:
            raise ChildGone(f"the submission used up its CPU time ({describe_cpu(self.cpu_left, self.cpu_left)} "
                            "left for it)", Status.TIMEOUT)
        now = time.monotonic()
        waited = self.waiting()
        step = self.step_budget()
        if charged_wall(now - self._step.wall, waited - self._step.waited) >= step.wall_seconds:
            raise ChildGone(f"it slept or waited through the wall time of one step ({describe_wall(step.wall_seconds)}: "
                            "time.sleep, input() or a wait for something that never comes?)", Status.TIMEOUT)
        if self.wall.charged(now, waited) >= self.wall.budget.wall_seconds:
            raise ChildGone("the submission slept or waited through its wall time "
                            f"({describe_wall(self.wall.budget.wall_seconds)})", Status.TIMEOUT)
        if now >= until:  # the backstop: only a child that waited for a CPU most of the time gets here
            raise ChildGone(f"it ran out of wall time after {describe_cpu(used - start, budget)} "
                            "(the machine was busy)", Status.TIMEOUT, wall_bound=True)

    def _read_exact(self, n: int, until: float) -> bytes:
        """n bytes from the child, reading ahead into a buffer (one read often holds a frame);
        its stdout/stderr pipe is drained meanwhile, so a child writing there never blocks."""
        while len(self._buffer) < n:
            remaining = until - time.monotonic()
            if remaining <= 0:
                self._charge(until)
            watched = [self.rep_r] + ([self.launched.out_r] if self.launched.out_r is not None else [])
            ready, _, _ = select.select(watched, [], [], min(max(remaining, 0.0), POLL_SECONDS))
            if self.launched.out_r is not None and self.launched.out_r in ready:
                self.launched.drain()
            if self.rep_r not in ready or time.monotonic() >= self._next_charge:
                self._charge(until)
            if self.rep_r not in ready:
                continue
            chunk = os.read(self.rep_r, max(n - len(self._buffer), 1 << 16))
            if not chunk:
                raise ChildGone(self._death())
            self._buffer += chunk
        data, self._buffer = bytes(self._buffer[:n]), self._buffer[n:]
        return data

    def receive(self, until: float):
        until = min(until, self.wall.backstop)
        try:
            length = codec.frame_length(self._read_exact(codec.HEADER_SIZE, until))
            return codec.decode(self._read_exact(length, until))
        except codec.CodecError as exc:
            raise ChildGone(f"it sent something that is not plain data ({exc})") from None

    def _check_group(self) -> None:
        """Kill the whole group once it went over any of its limits."""
        over = self._group_limit()
        if over:
            self.launched.kill()
            raise ChildGone(over)

    def _group_limit(self) -> str | None:
        """What the child's group says it went over (the kernel acted on it), or None."""
        group = self.launched.group
        if group is not None and group.memory_exceeded():
            return f"it went over its memory limit ({self.limits.memory_mb} MB for all its processes together)"
        if group is not None and group.processes_exceeded():
            return f"it tried to start more than {self.limits.processes} processes and threads"
        return None

    def _death(self) -> str:
        return self._group_limit() or _describe_exit(self.launched.exit_status())

    # -- protocol ------------------------------------------------------------------------------
    def step_budget(self):
        """What one cell or call may use (budget.step_budget)."""
        return step_budget(self.limits.wall_seconds)

    @property
    def cpu_used(self) -> float:
        """CPU seconds charged to this child so far: its own (last reading) and the judge's for it."""
        return self.clock.last + self.trusted_seconds

    def _start_step(self) -> float:
        """Begin charging a step (its budget is set here, once); its backstop."""
        self._step = _Step(self.cpu_used, time.monotonic(), self.waiting())
        return min(self._step.wall + backstop_seconds(self.step_budget()), self.wall.backstop)

    def wait_loaded(self) -> None:
        until = self._start_step()
        while True:
            message = self.receive(until)
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "loading":
                # A step starts once per cell, in the order the judge sent them: a child that
                # says "loading" again never restarts its clock.
                cell = message.get("cell")
                if type(cell) is not int or cell not in self._unloaded:
                    raise ChildGone("it broke the judge's protocol")
                del self._unloaded[:self._unloaded.index(cell) + 1]
                self.current_cell = cell
                self.clock.seconds()
                until = self._start_step()
            elif kind == "cell_done":
                self._check_group()  # what the cell's processes did is the cell's
                self.cell_outputs[message.get("cell")] = message.get("outputs") or []
                if message.get("error"):
                    self.cell_errors[message.get("cell")] = str(message.get("error"))
            elif kind == "loaded":
                self.current_cell = None
                return

    def call(self, function: str, args: tuple, deps: dict | None, unchanged: dict | None = None,
             settled=frozenset()) -> object:
        deps, unchanged = dict(deps or {}), dict(unchanged or {})
        fast = {name: source for name, spec in deps.items() if (source := child_side_source(spec, settled))}
        self.send({"type": "call", "function": function, "args": list(args), "deps": deps,
                   "unchanged": sorted(unchanged), "fast": fast})
        self.clock.seconds()
        until = self._start_step()
        while True:
            message = self.receive(until)
            kind = message.get("type") if isinstance(message, dict) else None
            if kind in ("result", "error"):
                self._check_group()  # what the call's processes did is the call's
            if kind == "result":
                changed = message.get("changed") or []
                if isinstance(changed, list) and changed:
                    raise StudentError(modified_message(function, [unchanged.get(i, f"#{i}") for i in changed
                                                                   if isinstance(i, int)]), Status.FAILED)
                return message.get("value")
            if kind == "error":
                status = Status.MISSING if message.get("kind") in ("undefined", "not_implemented") else Status.ERROR
                raise StudentError(self._error_message(function, message), status)
            if kind == "dep":
                started = time.thread_time()
                self._answer_dependency(message, deps)
                self.trusted_seconds += time.thread_time() - started
                if time.monotonic() >= self._next_charge:  # a flood of calls never lets select idle
                    self._charge(until)
            else:
                raise ChildGone("it broke the judge's protocol")

    def _error_message(self, function: str, message: dict) -> str:
        """What the verdict says about a call that failed, written here from checked fields only:
        an exception's type, never its message nor where it was raised (the inputs could choose
        the line as well as the words: either could read a hidden case's inputs back). The
        notebook's own outputs (its feedback) show where a visible test's call failed."""
        kind = message.get("kind")
        cell, line = message.get("cell"), message.get("line")
        lines = self.sources.get(cell, "").splitlines() if type(cell) is int else []
        code = lines[line - 1].strip()[:200] if type(line) is int and 1 <= line <= len(lines) else ""
        if kind == "undefined":
            if message.get("exception") in COMPILE_ERRORS and code:  # the source alone decides it: no input does
                return f"`{function}`'s cell does not compile: line {line}, {message['exception']}: {code}"
            return f"`{function}` is not defined in the notebook"
        if message.get("exception") == "_DependencyError" and self.refusal:
            return self.refusal
        if kind == "not_implemented":
            return f"`{function}` is not implemented yet (it raises NotImplementedError)"
        if kind == "signature" and type(message.get("given")) is int:
            return (f"{function}() takes a different number of arguments: it was called with "
                    f"{message['given']} positional arguments")
        if kind == "unplain":
            return "it returned something that is not numbers or numpy arrays"
        name = message.get("exception")
        if not (isinstance(name, str) and (name in KNOWN_EXCEPTIONS or (
                isinstance(getattr(builtins, name, None), type) and issubclass(getattr(builtins, name), BaseException)))):
            name = "an exception of a class the notebook defines"
        return f"{name} (the visible tests in the notebook show where)"

    def _answer_dependency(self, message: dict, deps: dict) -> None:
        name = message.get("name")
        if name not in deps:
            self.send({"type": "dep_error", "message": "it is not available here"})
            return
        try:
            args, kwargs = message.get("args") or [], message.get("kwargs") or {}
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise ValueError("malformed call")
            check_arguments(deps[name], args, kwargs)
        except Exception as exc:  # noqa: BLE001 - the grader's argument check: its own fixed words
            self._refuse(name, str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__)
            return
        try:
            value = resolve(deps[name])(*args, **kwargs)
            self.send({"type": "dep_result", "value": value})
        except ChildGone:
            raise
        except Exception as exc:  # noqa: BLE001 - arguments the check let through made it fail
            # Never its message: numpy's words ("shapes (5,4) and (17,3)") would carry back numbers
            # the student's code chose, computed from a hidden case's inputs.
            self._refuse(name, f"it raised {type(exc).__name__} on these arguments")

    def _refuse(self, name: str, reason: str) -> None:
        """Tell the child a trusted function refused its call; the judge's own words are shown if
        the student's function fails because of it."""
        self.refusal = f"the call {name}(...) was refused: {reason}"
        self.send({"type": "dep_error", "message": reason})

    def close(self) -> None:
        self.launched.kill()
        self.clock.seconds()  # the group's counter, every process dead: the final charge
        self.launched.close()


class WallClock:
    """A submission's wall time as budget.py charges it: since it started, less what its closed
    children (`waited`) and its current one waited for a CPU; and its backstop."""

    def __init__(self, budget: Budget):
        self.budget, self.started, self.waited = budget, time.monotonic(), 0.0
        self.backstop = self.started + backstop_seconds(budget)

    def charged(self, now: float, current_waited: float) -> float:
        return charged_wall(now - self.started, self.waited + current_waited)

    def used_up(self, current_waited: float) -> bool:
        return self.charged(time.monotonic(), current_waited) >= self.budget.wall_seconds


class RemoteSubject:
    """A Subject whose functions live in a child; a fresh child replaces one that died."""

    def __init__(self, cells, scratch: Path, limits: Limits, launcher=None, hide=None, uid: int | None = None):
        self.cells, self.scratch, self.limits, self.uid = list(cells), scratch, limits, uid
        self.hide = hidden_paths() if hide is None else list(hide)
        self.launcher = launcher or default_launcher()
        self.cell_outputs: dict[int, list] = {}
        self.wall = WallClock(submission_budget(limits.wall_seconds))  # set once, here
        self.cpu_spent = 0.0  # by the children already closed
        self.child_cpu = 0.0  # of that, the children's own (the rest is the judge answering them)
        self.wall_bound: set[str] = set()  # functions whose timeout the machine's load caused
        self.skipped: dict[int, str] = {}   # cells that killed or hung a child while loading
        self.cell_errors: dict[int, str] = {}
        self.child: Child | None = None
        #: exercises whose verdict is final: code that would solve them may now reach the child
        self.settled: set[str] = set()

    def _start(self) -> Child:
        for _ in range(len(self.cells) + 1):
            cells = [(i, s) for i, s in self.cells if i not in self.skipped]
            child = Child(cells, self.scratch, self.limits, self.wall, self.launcher, self.hide,
                          self.limits.wall_seconds - self.cpu_spent, self.uid)
            try:
                child.wait_loaded()
                return child
            except ChildGone as gone:
                culprit = child.current_cell
                self._close(child)
                if culprit is None or self.wall.used_up(0.0):
                    raise
                if gone.wall_bound:  # it slept or waited, or the machine was slow: grade again alone
                    self.wall_bound.add(f"cell {culprit}")
                self.skipped[culprit] = str(gone)
                self.cell_outputs[culprit] = [{"output_type": "error", "ename": "Stopped", "evalue": str(gone),
                                               "traceback": [f"This cell was stopped: {gone}"]}]
            finally:
                self.cell_errors.update(child.cell_errors)
                for index, outputs in child.cell_outputs.items():
                    self.cell_outputs.setdefault(index, outputs)
        raise ChildGone("the notebook's code could not be loaded")

    def call_ready(self) -> None:
        """Run the notebook's cells now (their outputs are wanted even if no check runs)."""
        try:
            if self.child is None:
                self.child = self._start()
        except ChildGone:
            self.child = None

    def _close(self, child: Child) -> None:
        child.close()
        self.cpu_spent += child.cpu_used
        self.wall.waited += child.waiting()
        self.child_cpu += child.clock.last

    def call(self, function, args, deps=None, unchanged=None):
        spent = self.cpu_spent + (self.child.cpu_used if self.child else 0.0)
        if spent >= self.limits.wall_seconds:
            raise StudentError("the submission used up its CPU time before this exercise "
                               f"({describe_cpu(self.limits.wall_seconds, self.limits.wall_seconds)})", Status.TIMEOUT)
        if time.monotonic() >= self.wall.backstop:
            self.wall_bound.add(function)
            raise StudentError("the judge ran out of wall time before this exercise, with "
                               f"{describe_cpu(spent, self.limits.wall_seconds)} used (the machine "
                               "was busy)", Status.TIMEOUT)
        if self.wall.used_up(self.child.waiting() if self.child else 0.0):
            raise StudentError("the submission slept or waited through its wall time before this exercise "
                               f"({describe_wall(self.wall.budget.wall_seconds)})", Status.TIMEOUT)
        try:
            if self.child is None:
                self.child = self._start()
            return self.child.call(function, args, deps, dict(unchanged or {}), frozenset(self.settled))
        except ChildGone as gone:
            if gone.wall_bound:
                self.wall_bound.add(function)
            if self.child is not None:
                self._close(self.child)
                self.child = None
            raise StudentError(f"{function} could not be judged: {gone}", gone.status) from None

    def close(self) -> None:
        if self.child is not None:
            self._close(self.child)
            self.child = None


@dataclass
class Judgement:
    """Everything the judge decided about one notebook, and the outputs its cells produced."""
    results: list[Result]
    cell_errors: dict[int, str] = field(default_factory=dict)
    skipped_cells: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0
    cell_outputs: dict[int, list] = field(default_factory=dict)
    #: functions that timed out on wall time with their CPU use within limits: grade again alone
    wall_bound: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0
    #: the children's own CPU: they are reaped outside the grading process tree, so a parent's
    #: getrusage never sees it
    child_cpu_seconds: float = 0.0


def judge_notebook(nb, assignment: str, helpers: Path | None, limits: Limits,
                   tolerances: Tolerances | None = None, functions: list[str] | None = None,
                   launcher=None, hide_also=(), release: Path | None = None) -> Judgement:
    """Judge every exercise of a notebook (a NotebookNode or a path) in a limited child.

    release: the release notebook it was made from, whose locked opening the warm zygote may run
    once for every child (prelude.py)."""
    if not isinstance(nb, nbformat.NotebookNode):
        nb = nbformat.read(str(nb), as_version=4)
    table = checks_for(assignment)
    launcher = launcher or default_launcher()
    if release is not None and helpers is not None and hasattr(launcher, "prelude"):
        launcher.prelude(release_prelude(release), helpers)
    started = time.monotonic()
    uid = submission_uid()
    with Scratch(helpers, owner=uid, limits=limits) as scratch:
        subject = RemoteSubject(code_cells(nb), scratch.path, limits, launcher, hidden_paths(hide_also), uid)
        try:
            subject.call_ready()
            order = list(functions or table)
            subject.settled = set(table) - set(order)  # not judged in this run: no verdict to protect
            results = []
            for fn in order:
                results.append(run_check(fn, subject, tolerances, table))
                subject.settled.add(fn)
        finally:
            subject.close()
            sweep(uid)
            cgroup.remove_pending()  # its children's groups, if they had not finished dying
    wall_bound = [r.function for r in results if r.status == Status.TIMEOUT and r.function in subject.wall_bound]
    wall_bound += sorted(w for w in subject.wall_bound if w.startswith("cell "))
    return Judgement(results, subject.cell_errors, subject.skipped, time.monotonic() - started,
                     subject.cell_outputs, wall_bound, subject.cpu_spent, subject.child_cpu)
