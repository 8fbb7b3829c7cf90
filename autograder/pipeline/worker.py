"""A grading worker: grades students one after another, each with nbgrader autograde (the judge
among its steps) and feedback.

The orchestrator starts a few of these (`python -m autograder.pipeline.worker --serve ...`) and
sends one JSON task per line on stdin; the worker answers one `WORKER-RESULT {...}` line per task.
Student code never runs in the worker itself (it runs in the judge's confined children, or in a
kernel), but nbgrader parses and renders the student's notebook here (trusted side). So each
step fails alone: the feedback is rendered in a forked child with its own memory and time cap,
and after any failure (nbgrader's, a MemoryError, anything unexpected) the worker answers with
"retire" and exits, so the orchestrator replaces it rather than reuse a broken gradebook session.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import select
import signal
import sys
import time
import warnings
from pathlib import Path

from ..judge.sandbox import Limits

# nbgrader, nbconvert and the gradebook are imported where they are used: a serving worker starts
# the judge's warm interpreter first, so both load at the same time (see main).

RESULT_PREFIX = "WORKER-RESULT "


def mark_complete(record: Path) -> None:
    """Mark a verdict record complete once its grades and feedback are saved (a rerun may keep it)."""
    if not record.is_file():
        return
    data = json.loads(record.read_text(encoding="utf-8"))
    data["complete"] = True
    partial = record.with_suffix(".tmp")
    partial.write_text(json.dumps(data, indent=1), encoding="utf-8")
    partial.replace(record)  # atomic: a kill never leaves half a record


#: A worker holds nbgrader, numpy and one notebook at a time (about 160 MiB resident, 310 MiB of
#: address space); this cap only stops a runaway, e.g. a gradebook query gone wrong.
WORKER_ADDRESS_SPACE_MB = 2048
#: Address space the feedback child may add to what it inherits (a 15 MB markdown table once
#: took the whole worker's 2 GiB); honest feedback needs well under 100 MiB.
FEEDBACK_EXTRA_MB = 768
#: Wall seconds for one student's feedback (about 0.1 s when honest).
FEEDBACK_SECONDS = 90.0


def _address_space_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 512 * 1024 * 1024


def in_limited_child(step, extra_mb: int = FEEDBACK_EXTRA_MB, seconds: float = FEEDBACK_SECONDS) -> str:
    """Run step() in a forked child capped at extra_mb more memory and `seconds`; "" or what went wrong.

    The child shares nothing back but a short message, so whatever it exhausts or breaks (memory,
    a session, a template cache) ends with it."""
    read_end, write_end = os.pipe()
    cap = _address_space_bytes() + extra_mb * 1024 * 1024
    pid = os.fork()
    if pid == 0:  # the child: run the step, report, and leave without running any cleanup
        status = 1
        try:
            os.close(read_end)
            # Short-lived and capped: no collection, which would touch (and so copy) every page of
            # the parent's objects this child shares.
            gc.disable()
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            limit = cap if hard == resource.RLIM_INFINITY else min(cap, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            message = step() or ""
            status = 0 if not message else 1
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
            message = f"{type(exc).__name__}: {exc}"
        try:
            os.write(write_end, message.encode("utf-8", "replace")[-4000:])
        finally:
            os._exit(status)
    os.close(write_end)
    deadline = time.monotonic() + seconds
    chunks = []
    try:
        while True:  # until the child's end of the pipe closes: it has reported and is exiting
            ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return f"it took longer than {seconds:.0f} s"
            chunk = os.read(read_end, 8192)
            if not chunk:
                break
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        message = b"".join(chunks)[-8192:].decode("utf-8", "replace")
    finally:
        os.close(read_end)
    if os.WIFSIGNALED(status):
        return message or f"it was ended by signal {os.WTERMSIG(status)}"
    return message or ("" if os.WEXITSTATUS(status) == 0 else f"it exited with status {os.WEXITSTATUS(status)}")


_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?(?P<name>\w+(?:Error|Exception|Exit))\b:?(?P<detail>.*)$")


def _cause(text: str) -> str:
    """The most telling line of an nbgrader failure: its last exception other than nbgrader's wrapper."""
    lines = [m for m in (_EXCEPTION_LINE.match(line.strip()) for line in text.splitlines()) if m]
    real = [m for m in lines if m.group("name") != "NbGraderException"] or lines
    if not real:
        return (text.strip().splitlines() or ["no details"])[-1][-300:]
    return f"{real[-1].group('name')}{':' + real[-1].group('detail')[:200] if real[-1].group('detail').strip() else ''}"


def grade_student(course: Path, assignment: str, student: str, db_url: str, limits: Limits,
                  sha256: str = "", executor: str = "sandbox", hide=(), resume_key: str = "") -> dict:
    """Autograde one student's submission (already in course/submitted/) and write feedback."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from . import gradebook
    from .config import grading_config
    config = grading_config(course, db_url, limits, submission_sha256=sha256, executor=executor, hide=hide)
    config.JudgeVerdicts.resume_key = resume_key
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    started = time.monotonic()
    gradebook.ensure_student(db_url, student)  # safe when another run adds this student at the same time
    result = api.autograde(assignment, student, force=True, create=True)
    if not result.get("success") and executor == "kernel":
        # The kernel died or nbgrader's Execute gave up (os._exit, a killed kernel): the judge
        # still runs the notebook in its own child, so the honest code keeps its points.
        outcome = grade_student(course, assignment, student, db_url, limits, sha256, "sandbox", hide, resume_key)
        outcome["note"] = "; ".join(filter(None, ["its Jupyter kernel died, so it was run and judged in the "
                                                  "sandbox instead", outcome.get("note")]))
        return outcome
    if not result.get("success"):
        return {"ok": False, "stage": "autograde", "retire": True,
                "error": (result.get("error") or result.get("log") or "")[-2000:]}
    autograded = time.monotonic()
    record = course / "verdicts" / student / f"{assignment}.json"

    def feedback() -> str:
        answer = api.generate_feedback(assignment, student, force=True)
        return "" if answer.get("success") else _cause(f"{answer.get('log') or ''}\n{answer.get('error') or ''}")

    failure = in_limited_child(feedback)
    outcome = {"ok": True, "autograde_seconds": round(autograded - started, 3),
               "feedback_seconds": round(time.monotonic() - autograded, 3), "note": ""}
    if failure:  # the grades stand; the record stays incomplete, so the next run tries again
        outcome["note"] = f"its feedback page could not be written ({_cause(failure)}); its grades stand"
    else:
        mark_complete(record)
    return outcome


def _warm_feedback(course: Path, assignment: str) -> None:
    """Render the release notebook's page once here, so each student's forked render starts warm."""
    from . import feedback_exporter
    try:
        for notebook in sorted((course / "release" / assignment).glob("*.ipynb"))[:1]:
            feedback_exporter.warm_up(notebook)
    except Exception as exc:  # noqa: BLE001 - only speed is lost: each page then warms up by itself
        print(f"feedback warm-up skipped: {type(exc).__name__}: {exc}", file=sys.stderr)


def serve(args) -> int:
    """Grade the students named on stdin, one JSON task per line, until stdin closes.

    After a failed task the worker answers with "retire" and exits: whatever broke (a gradebook
    session, memory) leaves with it, and the orchestrator starts a fresh worker."""
    cap = WORKER_ADDRESS_SPACE_MB * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's own session notices
    limits = Limits(wall_seconds=args.seconds, memory_mb=args.memory_mb)
    from . import gradebook_engines
    gradebook_engines.install()
    _warm_feedback(args.course, args.assignment)
    for line in sys.stdin:
        if not line.strip():
            continue
        task = json.loads(line)
        try:
            outcome = grade_student(args.course, args.assignment, task["student"], args.db, limits,
                                    task.get("sha256", ""), args.executor, args.hide, task.get("resume_key", ""))
        except BaseException as exc:  # noqa: BLE001 - MemoryError too: answer, then make way for a fresh worker
            outcome = {"ok": False, "stage": "worker", "retire": True, "error": f"{type(exc).__name__}: {exc}"[-2000:]}
        outcome["student"], outcome["worker_pid"] = task["student"], os.getpid()
        sys.stdout.write(RESULT_PREFIX + json.dumps(outcome) + "\n")
        sys.stdout.flush()
        if outcome.get("retire"):
            return 3
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--course", required=True, type=Path)
    parser.add_argument("--assignment", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("--executor", choices=("sandbox", "kernel"), default="sandbox")
    parser.add_argument("--serve", action="store_true", help="Read tasks from stdin (one JSON per line).")
    parser.add_argument("--hide", action="append", default=[], help="A path student code must not see.")
    args = parser.parse_args(argv)
    if args.serve and args.executor == "sandbox":
        # The warm interpreter imports numpy and matplotlib and draws its first figure while this
        # process imports nbgrader: the first student's judge then finds it ready.
        from ..judge.judge import default_launcher
        default_launcher().start()
    return serve(args)


def _leave(code: int) -> None:
    """End the worker at once (its grades and files are written and closed), its warm zygote first."""
    from ..process_exit import exit_now
    if "autograder.judge.judge" in sys.modules:
        sys.modules["autograder.judge.judge"].close_launchers()  # the warm interpreter and its folder
    exit_now(code)


if __name__ == "__main__":
    _leave(main())
