"""A warm interpreter that forks one fresh child per submission (trusted side of the boundary).

The last part of the program (README.md), after codec.py, confine.py and child.py; the launcher
starts it as `python -I /tmp/gradcheck-zygote-XXXX/zygote.py FD ...`. It imports numpy and
matplotlib once, computes the child's file-system allowlist from what it has loaded,
and then, for each request on one of its control sockets (one per judging process it serves:
`grade` starts one zygote for all its workers), forks a child that confines itself and runs
child_main. It never runs student code itself, so no state passes from
one student to the next, and it never opens a path in a scratch folder: each request brings four
pipe ends from the judge (requests, replies, the child's stdout/stderr, its exit status), and the
exit status the zygote gets from waitpid is written to the last of them.

A request without pipe ends asks it to run a prelude first: the release notebook's locked opening
cells (imports, set-up, a demonstration plot), the instructor's code, which every submission runs
unchanged before any of its own. The zygote runs them once, outside the sandbox like the imports
above, and each child whose notebook opens with exactly those cells starts from their namespace
and outputs instead of running them again.
"""
import atexit
import gc
import json
import os
import select
import shutil
import signal
import socket
import stat
import sys

#: The launcher's mkdtemp folder the zygote runs in (its cwd, its HOME, matplotlib's cache, its
#: program), taken from the program's own path: a sweep may have removed it before the zygote ran.
_HOME = os.path.dirname(os.path.abspath(sys.argv[0]))


def _leave_home():
    """Remove the zygote's own folder. rmtree works on directory fds and never follows a link."""
    if os.path.basename(_HOME).startswith("gradcheck-zygote-") and shutil.rmtree.avoids_symlink_attacks:
        shutil.rmtree(_HOME, ignore_errors=True)


# However the zygote ends short of SIGKILL (a failed import, a folder swept from under it), its
# folder goes with it; its children leave by os._exit, which skips this.
atexit.register(_leave_home)

import numpy  # noqa: E402,F401 (warm: every child gets it for free)
import numpy.random  # noqa: E402,F401 (numpy loads it lazily; a child may no longer reach the files)

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as _pyplot
    _pyplot.show = lambda *args, **kwargs: None  # figures are collected after each cell instead
except ImportError:  # matplotlib is optional for the judge
    _pyplot = None


def _share_mathtext_cache():
    """Make matplotlib's cache of parsed math text one per process instead of one per renderer.

    Every figure has its renderer, and the cache is keyed by it, so a child parsed each log-scale
    tick label ("$\\mathdefault{10^{-7}}$") again in every figure, a third of a plot's cost. The
    parse depends only on the output type, not on the renderer, so children may share it."""
    import functools
    from matplotlib.mathtext import MathTextParser
    parse = getattr(MathTextParser._parse_cached, "__wrapped__", None)
    if parse is None:  # another matplotlib: keep its own cache
        return
    parsers = {}

    @functools.lru_cache(maxsize=1024)
    def shared(output_type, s, dpi, prop, antialiased, load_glyph_flags):
        return parse(parsers[output_type], s, dpi, prop, antialiased, load_glyph_flags)

    def _parse_cached(self, s, dpi, prop, antialiased, load_glyph_flags):
        parsers.setdefault(self._output_type, self)
        return shared(self._output_type, s, dpi, prop, antialiased, load_glyph_flags)
    MathTextParser._parse_cached = _parse_cached


def _draw_once():
    """Draw here what children draw, so each starts with fonts, renderer and math text parser
    loaded, and parse the tick labels of log scales from 1e-20 to 1e5 (what a gradient check's
    plots show): a child's figure then costs about 60 ms rather than 250 ms."""
    import io
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser
    _pyplot.loglog([1e-10, 1e-1], [1e-9, 1.0], "o-", label="$x^2$ θ³ ε")
    _pyplot.axhline(1e-7, linestyle="--")
    _pyplot.title("θ"), _pyplot.xlabel("$\\varepsilon$"), _pyplot.legend()
    _pyplot.gcf().savefig(io.BytesIO(), format="png", dpi=72)
    _pyplot.close("all")
    parser, tick_font = MathTextParser("path"), FontProperties(size="medium")  # as Agg lays out tick labels
    for exponent in range(-20, 6):
        parser.parse(f"$\\mathdefault{{10^{{{exponent}}}}}$", 72, tick_font)


if _pyplot is not None:
    try:
        _share_mathtext_cache()
    except Exception:  # noqa: BLE001 - only speed is lost
        pass
    _draw_once()

_CONTROLS = [socket.socket(fileno=int(fd)) for fd in sys.argv[1:]]
_ALLOW = allowlist()  # noqa: F821 (confine.py comes before)
_STATUS = {}  # child pid -> the write end of its exit-status pipe
_CHILDREN = {}  # control socket -> {child pid: its control group's cgroup.procs files}


def _reap(signum, frame):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = _STATUS.pop(pid, None)
        for children in _CHILDREN.values():
            children.pop(pid, None)
        if fd is not None:
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            try:
                os.write(fd, str(code).encode())
            except OSError:
                pass
            os.close(fd)


#: The prelude this zygote ran: its cells, their outputs and the namespace they left; empty if none.
_PRELUDE = {}


def _run_prelude(request):
    """Run a prelude once (see the module's docstring); the reply to the judge.

    A prelude that fails leaves this interpreter in a state no child should start from, so the
    reply asks the judge to replace it; a second, different prelude is declined."""
    cells = [(int(index), str(source)) for index, source in request.get("prelude") or []]
    if _PRELUDE or not cells:
        return {"prelude": bool(_PRELUDE) and _PRELUDE["cells"] == cells}
    helpers = str(request.get("helpers") or "")
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    sys.path.insert(0, helpers)  # the release's helper modules, as the scratch folder has them
    try:
        results = [_run_cell(index, source, namespace) for index, source in cells]  # noqa: F821
    finally:
        sys.path.remove(helpers)
    if any(message is not None for _, message in results):
        return {"prelude": False, "replace": True}
    _PRELUDE.update(cells=cells, outputs=[outputs for outputs, _ in results], namespace=namespace)
    gc.freeze()  # shared with every child from now on: their collections need not scan it
    return {"prelude": True}


def _open_files_to_reopen():
    """The regular files this interpreter holds open under the child's allowlist (matplotlib's
    fonts: FreeType reads glyphs from them long after they were opened, and parsed math text
    keeps them too): (fd, path, offset, identity) of each, for the child to open again at the same
    number and offset once it is confined (_reopen_read_only). Closed, a plot's text fails
    ("invalid stream operation"); shared, two children's seeks and reads would interleave."""
    held = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            info = os.fstat(fd)
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own fd, closed by now
            continue
        if fd < 3 or not stat.S_ISREG(info.st_mode) or not any(_inside(path, a) for a in _ALLOW):  # noqa: F821
            continue
        held.append((fd, path, os.lseek(fd, 0, os.SEEK_CUR), (info.st_dev, info.st_ino)))
    return held


def _reopen_read_only(held):
    """Open each file of _open_files_to_reopen again, read-only and as the confined child, from
    inside its read-only root: the zygote's own descriptors lie on the host's writable mounts,
    and reopening one through /proc/self/fd/N would write where the child may not write by
    path. A file the child cannot open is left closed."""
    for fd, path, offset, identity in held:
        try:
            fresh = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        if (os.fstat(fresh).st_dev, os.fstat(fresh).st_ino) != identity:
            os.close(fresh)
            continue
        os.lseek(fresh, offset, os.SEEK_SET)
        if fresh != fd:
            os.dup2(fresh, fd, inheritable=False)
            os.close(fresh)


#: The exit status of a child that could not enter the control group the judge made for it.
NO_GROUP_EXIT = 73


def _enter_group(paths):
    """Put this new child into the control group the judge made for it (each hierarchy's
    cgroup.procs), before anything else runs: all it starts is in the group from then on."""
    try:
        for path in paths:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)
    except OSError:
        os._exit(NO_GROUP_EXIT)  # never run student code outside the group it was given


def _become_child(request, fds):
    request_fd, reply_fd, output_fd, status_fd = fds
    try:
        atexit.unregister(_leave_home)  # the zygote's folder is not the child's to remove
        _enter_group(request.get("cgroup") or [])
        os.close(status_fd)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        os.setsid()
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        # Nothing of the zygote's or of other children's stays open: only the two protocol pipes;
        # the files matplotlib holds open (its fonts) are opened again once confined.
        fonts = _open_files_to_reopen()
        keep = sorted({request_fd, reply_fd})
        for low, high in zip([2, *keep], [*keep, 1 << 16]):
            os.closerange(low + 1, high)
        for key, value in request.get("env", {}).items():
            os.environ[key] = value
        confine({"limits": request["limits"], "scratch": request["scratch"], "uid": request.get("uid"),  # noqa: F821
                 "allow": _ALLOW, "hide": request.get("hide", [])})
        _reopen_read_only(fonts)
        child_main(request_fd, reply_fd, _PRELUDE)  # noqa: F821
    except BaseException:  # noqa: B902 (whatever ends the child, it must not return into the zygote)
        import traceback
        traceback.print_exc()
    finally:
        os._exit(70)


def _answer(control) -> bool:
    """Answer one request on one judge's control socket; False once that judge has gone."""
    data, fds, _, _ = socket.recv_fds(control, 1 << 20, 4)
    if not data:  # the judge is gone, closed or killed
        return False
    if len(fds) != 4:
        for fd in fds:
            os.close(fd)
        try:
            request = json.loads(data) if not fds else {}
            reply = _run_prelude(request) if "prelude" in request else {}
        except Exception:  # noqa: BLE001 - a malformed request: decline, and start afresh
            reply = {"prelude": False, "replace": True}
        control.send(json.dumps(reply).encode())
        if reply.get("replace"):  # half a prelude ran here: no child of any judge may start from it
            _leave_home()
            os._exit(0)
        return True
    request = json.loads(data)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # register the pid before it is reaped
    pid = -1
    try:
        pid = os.fork()
        if pid == 0:
            _become_child(request, fds)
        _STATUS[pid] = fds[3]
        _CHILDREN.setdefault(control, {})[pid] = list(request.get("cgroup") or [])
    except OSError:  # no process to spare now: this judge's launch fails, the others go on
        os.close(fds[3])
    finally:
        if pid != 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    for fd in fds[:3]:
        os.close(fd)
    control.send(json.dumps({"pid": pid}).encode())
    return True


def _kill_children_of(control):
    """Kill every child a judge that has gone (closed, or killed before it could end them: Ctrl-C,
    an out-of-memory kill) left running: its process group and, where it has one, each process in
    its control group; only children not yet reaped, whose pids cannot have been reused."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        for pid, procs in _CHILDREN.pop(control, {}).items():
            if pid not in _STATUS:
                continue
            for kill, target in ((os.killpg, pid), (os.kill, pid)):
                try:
                    kill(target, signal.SIGKILL)
                except OSError:
                    pass
            for _ in range(4):  # a process forked while its group was listed is caught next round
                listed = set()
                for path in procs:
                    try:
                        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                        try:
                            listed.update(int(p) for p in os.read(fd, 1 << 20).split() if p.isdigit())
                        finally:
                            os.close(fd)
                    except OSError:
                        pass
                for member in listed:
                    try:
                        os.kill(member, signal.SIGKILL)
                    except OSError:
                        pass
                if not listed:
                    break
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})


def _zygote_loop():
    signal.signal(signal.SIGCHLD, _reap)
    judges = list(_CONTROLS)
    while judges:  # one request at a time, whichever judge asks
        ready, _, _ = select.select(judges, [], [])
        for control in ready:
            try:
                alive = _answer(control)
            except InterruptedError:
                continue
            except OSError:  # the judge went away mid-request
                alive = False
            if not alive:
                judges.remove(control)
                _kill_children_of(control)
                control.close()
    _leave_home()  # nobody else will remove this folder
    os._exit(0)


if __name__ == "__main__":
    gc.freeze()  # what is loaded is shared with every child: its collections need not scan it
    _zygote_loop()
