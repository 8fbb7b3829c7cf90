"""A grading worker: grades students one after another, each with nbgrader autograde (the judge
among its steps) and feedback.

The orchestrator starts a few of these (`python -m autograder.pipeline.worker --serve ...`) and
sends one JSON task per line on stdin; the worker answers one `WORKER-RESULT {...}` line per task.
Student code never runs in the worker itself (it runs in the judge's confined children, or in a
kernel), so a submission that crashes cannot take the worker down; if nbgrader itself fails, the
orchestrator restarts the worker and the batch goes on.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from ..judge.sandbox import Limits
from . import gradebook
from .config import grading_config

RESULT_PREFIX = "WORKER-RESULT "


def mark_complete(record: Path) -> None:
    """Mark a verdict record complete once its grades are saved, so a killed batch resumes from it."""
    if not record.is_file():
        return
    data = json.loads(record.read_text(encoding="utf-8"))
    data["complete"] = True
    partial = record.with_suffix(".tmp")
    partial.write_text(json.dumps(data, indent=1), encoding="utf-8")
    partial.replace(record)  # atomic: a kill never leaves half a record


def grade_student(course: Path, assignment: str, student: str, db_url: str, limits: Limits,
                  sha256: str = "", executor: str = "sandbox", hide=()) -> dict:
    """Autograde one student's submission (already in course/submitted/) and write feedback."""
    config = grading_config(course, db_url, limits, submission_sha256=sha256, executor=executor, hide=hide)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    started = time.monotonic()
    gradebook.ensure_student(db_url, student)  # safe when another run adds this student at the same time
    result = api.autograde(assignment, student, force=True, create=True)
    note = ""
    if not result.get("success") and executor == "kernel":
        # The kernel died or nbgrader's Execute gave up (os._exit, a killed kernel): the judge
        # still runs the notebook in its own child, so the honest code keeps its points.
        outcome = grade_student(course, assignment, student, db_url, limits, sha256, "sandbox", hide)
        outcome["note"] = "its Jupyter kernel died, so it was run and judged in the sandbox instead"
        return outcome
    if not result.get("success"):
        return {"ok": False, "stage": "autograde", "error": (result.get("error") or result.get("log") or "")[-2000:]}
    autograded = time.monotonic()
    mark_complete(course / "verdicts" / student / f"{assignment}.json")  # grades are in the gradebook
    feedback = api.generate_feedback(assignment, student, force=True)
    if not feedback.get("success"):
        return {"ok": False, "stage": "feedback", "error": (feedback.get("error") or "")[-2000:]}
    return {"ok": True, "autograde_seconds": round(autograded - started, 3),
            "feedback_seconds": round(time.monotonic() - autograded, 3), "note": note}


#: A worker holds nbgrader, numpy and one notebook at a time (about 160 MiB resident, 310 MiB of
#: address space); this cap only stops a runaway, e.g. a gradebook query gone wrong.
WORKER_ADDRESS_SPACE_MB = 2048


def serve(args) -> int:
    """Grade the students named on stdin, one JSON task per line, until stdin closes."""
    import resource
    cap = WORKER_ADDRESS_SPACE_MB * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's own session notices
    limits = Limits(wall_seconds=args.seconds, memory_mb=args.memory_mb)
    for line in sys.stdin:
        if not line.strip():
            continue
        task = json.loads(line)
        try:
            outcome = grade_student(args.course, args.assignment, task["student"], args.db, limits,
                                    task.get("sha256", ""), args.executor, args.hide)
        except Exception as exc:  # nbgrader failed on this submission; the next one still runs
            outcome = {"ok": False, "stage": "worker", "error": f"{type(exc).__name__}: {exc}"}
        outcome["student"] = task["student"]
        sys.stdout.write(RESULT_PREFIX + json.dumps(outcome) + "\n")
        sys.stdout.flush()
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
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
