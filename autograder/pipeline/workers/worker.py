"""A grading worker: grades students one after another, each with nbgrader autograde (the judge
among its steps) and feedback.

The orchestrator starts a few of these (executor.worker_command: `python -m
autograder.pipeline.workers.worker --serve --settings JSON`, the run's messages.WorkerSettings) and
sends one messages.Task per line on stdin; the worker answers one messages.Answer line per task.
Student code never runs in the worker itself (it runs in the judge's confined children, or in a
kernel), but nbgrader parses and renders the student's notebook here (trusted side). So each
step fails alone: the feedback is rendered in a forked helper with a memory and time cap per
page (limited_helper.py), and after any failure (nbgrader's, a MemoryError, anything unexpected)
the worker answers with "retire" and exits, so the orchestrator replaces it rather than reuse a
broken gradebook session.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

from ..gradebook import verdicts
from .messages import Answer, Stage, Task, WorkerSettings

# nbgrader, nbconvert and the gradebook are imported where they are used: a serving worker starts
# the judge's warm interpreter first, so both load at the same time (see main).


#: A worker holds nbgrader, numpy and one notebook at a time (about 160 MiB resident, 310 MiB of
#: address space); this cap only stops a runaway, e.g. a gradebook query gone wrong.
WORKER_ADDRESS_SPACE_MB = 2048
#: Address space a feedback page may add to what the helper inherits (a 15 MB markdown table once
#: took the whole worker's 2 GiB); honest feedback needs well under 100 MiB.
FEEDBACK_EXTRA_MB = 768
#: Wall seconds for one student's feedback (about 0.06 s when honest).
FEEDBACK_SECONDS = 90.0


_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?(?P<name>\w+(?:Error|Exception|Exit))\b:?(?P<detail>.*)$")


def _cause(text: str) -> str:
    """The most telling line of an nbgrader failure: its last exception other than nbgrader's wrapper."""
    lines = [m for m in (_EXCEPTION_LINE.match(line.strip()) for line in text.splitlines()) if m]
    real = [m for m in lines if m.group("name") != "NbGraderException"] or lines
    if not real:
        return (text.strip().splitlines() or ["no details"])[-1][-300:]
    return f"{real[-1].group('name')}{':' + real[-1].group('detail')[:200] if real[-1].group('detail').strip() else ''}"


def grade_student(settings: WorkerSettings, task: Task) -> Answer:
    """Autograde one student's submission (already in the settings' course/submitted/) and write feedback;
    the answer carries the verdict record the judge left (None when it left none)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from ..gradebook import store
    from ..steps.config import grading_config
    course, assignment, student = settings.course, settings.assignment, task.student
    config = grading_config(course, settings.db_url, settings.limits, submission_sha256=task.sha256,
                            executor=settings.executor, hide=settings.hide)
    config.JudgeVerdicts.resume_key = task.resume_key
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    started = time.monotonic()
    store.ensure_student(settings.db_url, student)  # safe when another run adds this student at the same time
    result = api.autograde(assignment, student, force=True, create=True)
    if not result.get("success") and settings.executor == "kernel":
        # The kernel died or nbgrader's Execute gave up (os._exit, a killed kernel): the judge
        # still runs the notebook in its own child, so the honest code keeps its points.
        answer = grade_student(replace(settings, executor="sandbox"), task)
        answer.note = "; ".join(filter(None, ["its Jupyter kernel died, so it was run and judged in the "
                                              "sandbox instead", answer.note]))
        return answer
    if not result.get("success"):
        return Answer.failed(Stage.AUTOGRADE, (result.get("error") or result.get("log") or "")[-2000:], retire=True)
    autograded = time.monotonic()
    failure = feedback_helper(settings).run([assignment, student])
    answer = Answer(True, autograde_seconds=round(autograded - started, 3),
                    feedback_seconds=round(time.monotonic() - autograded, 3))
    if failure:  # the grades stand; the record stays incomplete, so the next run tries again
        answer.note = f"its feedback page could not be written ({_cause(failure)}); its grades stand"
        answer.record = verdicts.read(course, student, assignment)
    else:
        answer.record = verdicts.mark_complete(course, student, assignment)
    return answer  # with the record the judge left: the run's rows are made from it, not from the file


_HELPERS: dict = {}
# A process forked from this one (a worker forked from `grade`) forks feedback helpers of its own.
os.register_at_fork(after_in_child=_HELPERS.clear)


def feedback_helper(settings: WorkerSettings):
    """This worker's feedback renderer for a course and gradebook: a LimitedHelper (forked once,
    capped per page, replaced after any failure), so each page starts warm."""
    key = (str(settings.course), settings.db_url)
    if key not in _HELPERS:
        from .limited_helper import LimitedHelper
        api = []

        def page(request) -> str:
            from nbgrader.apps import NbGraderAPI
            from nbgrader.coursedir import CourseDirectory

            from ..steps.config import grading_config
            if not api:
                config = grading_config(settings.course, settings.db_url, settings.limits,
                                        executor=settings.executor, hide=settings.hide)
                api.append(NbGraderAPI(coursedir=CourseDirectory(config=config), config=config))
            assignment, student = request
            answer = api[0].generate_feedback(assignment, student, force=True)
            return "" if answer.get("success") else _cause(f"{answer.get('log') or ''}\n{answer.get('error') or ''}")
        _HELPERS[key] = LimitedHelper(page, FEEDBACK_EXTRA_MB, FEEDBACK_SECONDS)
    return _HELPERS[key]


def close_feedback_helpers() -> None:
    """Stop this process's feedback helpers and forget them (the next page forks a fresh one)."""
    for helper in _HELPERS.values():
        helper.close()
    _HELPERS.clear()


def preload() -> None:
    """Import what grading a student uses, so that workers forked from this process have it."""
    from nbgrader.apps import NbGraderAPI  # noqa: F401
    from nbgrader.coursedir import CourseDirectory  # noqa: F401
    from sqlalchemy.exc import SAWarning  # noqa: F401
    from ..feedback import exporter  # noqa: F401
    from ..gradebook import engines, store  # noqa: F401
    from ..steps import config, judge_verdicts  # noqa: F401


_WARMED: list = []


def warm_feedback(release: Path) -> None:
    """Render the release notebook's page once in this process, so that each student's page
    (rendered in a helper forked from it) starts warm; `grade` does it before it forks its
    workers, which then inherit it. Once per process: the templates are the same for any page."""
    from ..feedback import exporter
    if _WARMED:
        return
    try:
        for notebook in sorted(Path(release).glob("*.ipynb"))[:1]:
            exporter.warm_up(notebook)
            _WARMED.append(notebook)
    except Exception as exc:  # noqa: BLE001 - only speed is lost: each page then warms up by itself
        print(f"feedback warm-up skipped: {type(exc).__name__}: {exc}", file=sys.stderr)


def serve(settings: WorkerSettings) -> int:
    """Grade the students named on stdin, one Task per line, until stdin closes.

    After a failed task the worker answers with "retire" and exits: whatever broke (a gradebook
    session, memory) leaves with it, and the orchestrator starts a fresh worker."""
    cap = WORKER_ADDRESS_SPACE_MB * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's own session notices
    from ..gradebook import engines
    engines.install()
    warm_feedback(settings.course / "release" / settings.assignment)  # unless forked from a process that did
    for line in sys.stdin:
        if not line.strip():
            continue
        task = Task.from_line(line)
        try:
            answer = grade_student(settings, task)
        except BaseException as exc:  # noqa: BLE001 - MemoryError too: answer, then make way for a fresh worker
            answer = Answer.raised(exc, retire=True)
        answer.student, answer.worker_pid = task.student, os.getpid()
        sys.stdout.write(answer.to_line())
        sys.stdout.flush()
        if answer.retire:
            return 3
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--settings", required=True, type=WorkerSettings.from_json,
                        help="The run's messages.WorkerSettings, as JSON.")
    parser.add_argument("--serve", action="store_true", help="Read tasks from stdin (one JSON per line).")
    parser.add_argument("--zygote-fd", type=int, default=None,
                        help="A connection to the warm zygote `grade` shares with its forked workers.")
    args = parser.parse_args(argv)
    if args.serve and args.settings.executor == "sandbox":
        from ...judge import judge
        if args.zygote_fd is not None:
            import socket
            judge.adopt_zygote(socket.socket(fileno=args.zygote_fd))
        else:
            # The warm interpreter imports numpy and matplotlib and draws its first figure while
            # this process imports nbgrader: the first student's judge then finds it ready.
            judge.default_launcher().start()
    return serve(args.settings)


def leave(code: int) -> None:
    """End the worker at once (its grades and files are written and closed), its warm zygote first."""
    from ...process_exit import exit_now
    close_feedback_helpers()
    if "autograder.judge.judge" in sys.modules:
        sys.modules["autograder.judge.judge"].close_launchers()  # the warm interpreter and its folder
    exit_now(code)


if __name__ == "__main__":
    leave(main())
