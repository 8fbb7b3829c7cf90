"""A warm interpreter that forks one fresh child per submission.

Started once per grading worker as `python -I` with the codec and the child's code before it,
it imports numpy and matplotlib once and then, for each request on its control socket, forks a
child that confines itself, changes to the submission's scratch folder and runs child_main.
It never runs student code itself, so no state passes from one student to the next. When a
child ends, its exit status is written to `exit_status` in its scratch folder.
"""
import json
import os
import signal
import socket
import sys

import numpy  # noqa: F401 (warm: every child gets it for free)

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as _pyplot
    _pyplot.show = lambda *args, **kwargs: None  # figures are collected after each cell instead
    import io as _io
    _pyplot.plot([0, 1])  # draw once here, so every child starts with fonts and renderer loaded
    _pyplot.gcf().savefig(_io.BytesIO(), format="png")
    _pyplot.close("all")
except ImportError:  # matplotlib is optional for the judge
    pass

_CONTROL = socket.socket(fileno=int(sys.argv[1]))
_SCRATCH = {}


def _reap(signum, frame):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        scratch = _SCRATCH.pop(pid, None)
        if scratch:
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            try:
                with open(os.path.join(scratch, "exit_status"), "w") as f:
                    f.write(str(code))
            except OSError:
                pass


def _become_child(request, request_fd, reply_fd):
    try:
        _CONTROL.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        os.chdir(request["scratch"])
        out = os.open("stdout.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        for key, value in request.get("env", {}).items():
            os.environ[key] = value
        confine(request["limits"], request["scratch"], request.get("hide", []), request.get("needed", []))  # noqa: F821
        child_main(request_fd, reply_fd)  # noqa: F821
    except BaseException:  # noqa: B902 (whatever ends the child, it must not return into the zygote)
        import traceback
        traceback.print_exc()
    finally:
        os._exit(70)


def _zygote_loop():
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(_CONTROL, 1 << 20, 2)
        except InterruptedError:
            continue
        if not data:
            os._exit(0)
        request = json.loads(data)
        pid = os.fork()
        if pid == 0:
            _become_child(request, fds[0], fds[1])
        _SCRATCH[pid] = request["scratch"]
        for fd in fds:
            os.close(fd)
        _CONTROL.send(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    _zygote_loop()
