"""Grade one student's submission: nbgrader autograde (with the judge) and feedback.

Run as its own process by the orchestrator (`python -m autograder.pipeline.worker ...`), so a
submission that crashes nbgrader or the kernel cannot take the batch or another student down.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from ..judge.sandbox import Limits
from .config import grading_config


def grade_student(course: Path, assignment: str, student: str, db_url: str, limits: Limits,
                  sha256: str = "") -> dict:
    config = grading_config(course, db_url, limits, submission_sha256=sha256)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    started = time.monotonic()
    result = api.autograde(assignment, student, force=True, create=True)
    if not result.get("success"):
        return {"ok": False, "stage": "autograde", "error": (result.get("error") or result.get("log") or "")[-2000:]}
    autograded = time.monotonic()
    feedback = api.generate_feedback(assignment, student, force=True)
    if not feedback.get("success"):
        return {"ok": False, "stage": "feedback", "error": (feedback.get("error") or "")[-2000:]}
    return {"ok": True, "autograde_seconds": round(autograded - started, 3),
            "feedback_seconds": round(time.monotonic() - autograded, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--course", required=True, type=Path)
    parser.add_argument("--assignment", required=True)
    parser.add_argument("--student", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("--sha256", default="")
    args = parser.parse_args(argv)
    outcome = grade_student(args.course, args.assignment, args.student, args.db,
                            Limits(wall_seconds=args.seconds, memory_mb=args.memory_mb), args.sha256)
    print("WORKER-RESULT " + json.dumps(outcome))
    return 0 if outcome["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
