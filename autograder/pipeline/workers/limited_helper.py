"""A forked helper that runs one capped step after another: a student's feedback page, say.

Forking the grading worker for each student's page cost more than the page itself (the fork,
then copying the pages the render touches, and every cache cold again: 0.10 against 0.06 CPU
seconds). The helper is forked once and keeps its warm caches; each step still has a memory cap
and a time limit, and the helper never outlives a failure: a step that raises, returns a
problem, is killed or overruns ends the helper, and the next step gets a fresh one. A step that
failed in a helper that had served others is tried once more in a fresh one, so what one
student's notebook did to the helper never costs another student's page.
"""
from __future__ import annotations

import gc
import json
import os
import resource
import select
import signal
import time
from typing import Callable

#: Text kept of a step's answer (a failure's last lines are the telling ones).
MAX_ANSWER = 4000


def _address_space_bytes() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 512 * 1024 * 1024


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _serve(step: Callable[[object], str], requests: int, answers: int, extra_mb: int, growth_mb: int) -> None:
    """The helper's life: answer requests until one fails, memory grows too much, or the pipe closes."""
    gc.freeze()  # what it inherited stays shared: its collections need not touch (and copy) those pages
    cap = _address_space_bytes() + extra_mb * 1024 * 1024
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    start = _resident_bytes()
    with open(requests, encoding="utf-8") as lines:
        for line in lines:
            try:
                answer = step(json.loads(line)) or ""
            except BaseException as exc:  # noqa: BLE001 - reported; then this helper leaves
                answer = f"{type(exc).__name__}: {exc}"
            leaving = bool(answer) or _resident_bytes() - start > growth_mb * 1024 * 1024
            data = (json.dumps({"answer": answer[-MAX_ANSWER:], "leaving": leaving}) + "\n").encode("utf-8")
            while data:
                data = data[os.write(answers, data):]
            if leaving:
                return


class LimitedHelper:
    """Runs step(request) in a long-lived forked child: "" when it went well, else what went wrong."""

    def __init__(self, step: Callable[[object], str], extra_mb: int, seconds: float, growth_mb: int = 256):
        self.step, self.extra_mb, self.seconds, self.growth_mb = step, extra_mb, seconds, growth_mb
        self.pid: int | None = None
        self.served = 0
        self._to: int | None = None
        self._from: int | None = None
        self._buffer = b""

    def _start(self) -> None:
        requests_r, requests_w = os.pipe()
        answers_r, answers_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(requests_w)
                os.close(answers_r)
                # Not the worker's own task and answer pipes: whoever waits on them must see them close.
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.dup2(2, 1)
                _serve(self.step, requests_r, answers_w, self.extra_mb, self.growth_mb)
            finally:
                os._exit(0)
        os.close(requests_r)
        os.close(answers_w)
        self.pid, self._to, self._from, self._buffer, self.served = pid, requests_w, answers_r, b"", 0

    def _end(self, kill: bool) -> int | None:
        """Close the helper (killed first if asked); its wait status, or None."""
        status = None
        if self.pid is not None:
            if kill:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for fd in (self._to, self._from):
                os.close(fd)
            _, status = os.waitpid(self.pid, 0)
        self.pid = self._to = self._from = None
        return status

    def _answer(self) -> dict | None:
        """The helper's next answer line; None when it died or overran (it is then ended)."""
        deadline = time.monotonic() + self.seconds
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self._from], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                self._end(kill=True)
                return {"answer": f"it took longer than {self.seconds:.0f} s", "leaving": True}
            chunk = os.read(self._from, 1 << 16)
            if not chunk:
                status = self._end(kill=False)
                if status is not None and os.WIFSIGNALED(status):
                    return {"answer": f"it was ended by signal {os.WTERMSIG(status)}", "leaving": True}
                return {"answer": "it ended without an answer", "leaving": True}
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _once(self, request) -> str:
        if self.pid is None:
            self._start()
        try:
            data = (json.dumps(request) + "\n").encode("utf-8")
            while data:
                data = data[os.write(self._to, data):]
        except OSError:
            self._end(kill=True)
            return "it ended without an answer"
        reply = self._answer()
        self.served += 1
        if reply.get("leaving") and self.pid is not None:
            self._end(kill=False)
        return str(reply.get("answer") or "")

    def run(self, request) -> str:
        """step(request) in the helper (request: anything JSON carries): "" or what went wrong."""
        fresh = self.pid is None or self.served == 0
        answer = self._once(request)
        if answer and not fresh:  # perhaps an earlier step's doing: once more, in a fresh helper
            answer = self._once(request)
        return answer

    def close(self) -> None:
        self._end(kill=True)
