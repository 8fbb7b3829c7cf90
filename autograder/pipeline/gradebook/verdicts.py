"""The judge's verdict record of one submission, OUT/verdicts/<student>/<assignment>.json (trusted side).

The one home of the record: its path, its fields, writing it (atomically: a killed worker never
leaves half a record), reading it (one set of fallbacks: a record that is missing, unreadable or
not a record reads as None) and marking it complete once the grades and feedback it decided are
saved, which is what lets a rerun keep it (resume.py). The judge step writes it
(steps/judge_verdicts.py); the feedback page, a rerun and `export`'s CSV rows read it; a worker
hands the record it left to the run in its answer (workers/messages.Answer.record), and the run's
CSV rows are made from that.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from ...grading.status import Status

#: The folder of OUT that holds the records.
FOLDER = "verdicts"
#: The judge's words for a child that died or stopped answering (judge.RemoteSubject.call).
CHILD_GONE = "could not be judged"


@dataclass(frozen=True)
class ExerciseVerdict:
    """The judge's verdict on one exercise (a test cell's grade_id)."""
    exercise: str
    function: str
    status: Status
    message: str
    measured: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> "ExerciseVerdict":
        return cls(str(data["exercise"]), str(data.get("function") or ""), Status(data["status"]),
                   str(data.get("message", "")), dict(data.get("measured") or {}))

    def to_dict(self) -> dict:
        return {"exercise": self.exercise, "function": self.function, "status": self.status,
                "message": self.message, "measured": self.measured}


@dataclass(frozen=True)
class VerdictRecord:
    """What the judge decided for one student's notebook, and what it took to decide it."""
    student_id: str = ""
    assignment: str = ""
    notebook: str | None = None
    submission_sha256: str = ""
    resume_key: str = ""  # resume.resume_key: a rerun keeps the record only under the same key
    judge_seconds: float = 0.0
    exercises: tuple[ExerciseVerdict, ...] = ()
    cell_errors: dict = field(default_factory=dict)  # {cell index (str): error}
    skipped_cells: dict = field(default_factory=dict)  # {cell index (str): why it was not loaded}
    cpu_seconds: float = 0.0
    child_cpu_seconds: float = 0.0
    wall_bound: list | bool = False  # what ran out of wall time while within its CPU time (a busy machine)
    complete: bool = False  # its grades and feedback are saved: a rerun may keep it

    def by_exercise(self) -> dict[str, ExerciseVerdict]:
        """{grade id: verdict}."""
        return {e.exercise: e for e in self.exercises}

    def resumable(self) -> bool:
        """False when the grader's environment (a busy machine, a child that died, a cell that
        hung while loading), not the submission, may have decided part of the verdict."""
        if self.wall_bound or self.skipped_cells:
            return False
        return not any(e.status == Status.TIMEOUT or CHILD_GONE in e.message for e in self.exercises)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("exercises", "complete")}
        data["exercises"] = [e.to_dict() for e in self.exercises]
        order = ["student_id", "assignment", "notebook", "submission_sha256", "resume_key", "judge_seconds",
                 "exercises", "cell_errors", "skipped_cells", "cpu_seconds", "child_cpu_seconds", "wall_bound"]
        data = {name: data[name] for name in order}
        if self.complete:
            data["complete"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "VerdictRecord":
        """The record in `data`; raises KeyError, TypeError or ValueError when it is not one."""
        if not isinstance(data, dict):
            raise TypeError("a verdict record is a JSON object")
        names = {f.name for f in fields(cls)} - {"exercises"}
        known = {k: v for k, v in data.items() if k in names}
        return cls(**{**known, "exercises": tuple(ExerciseVerdict.from_dict(e) for e in data.get("exercises") or [])})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=float)

    @classmethod
    def from_json(cls, text: str | bytes) -> "VerdictRecord":
        return cls.from_dict(json.loads(text))

    def path(self, course: Path) -> Path:
        return path(course, self.student_id, self.assignment)

    def write(self, course: Path) -> Path:
        """Write it into the course folder `course` (OUT, or a worker's scratch course), atomically."""
        return write_at(self.path(course), self)


def folder(course: Path) -> Path:
    """The folder of every verdict record of a course folder."""
    return Path(course) / FOLDER


def path(course: Path, student: str, assignment: str) -> Path:
    """Where the record of `student`'s notebook for `assignment` lives in `course`."""
    return folder(course) / student / f"{assignment}.json"


def write_at(target: Path, record: VerdictRecord) -> Path:
    """Write `record` to `target` atomically (a partial file, then a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tmp")
    partial.write_text(record.to_json(), encoding="utf-8")
    partial.replace(target)
    return target


def read_at(target: Path) -> VerdictRecord | None:
    """The record at `target`; None when there is none, or it cannot be read as one."""
    try:
        return VerdictRecord.from_json(Path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read(course: Path, student: str, assignment: str) -> VerdictRecord | None:
    """The record of `student`'s notebook for `assignment`; None when there is none, or it cannot be read."""
    return read_at(path(course, student, assignment))


def exists(course: Path, student: str, assignment: str) -> bool:
    return path(course, student, assignment).is_file()


def remove(course: Path, student: str, assignment: str) -> None:
    """Forget the record (nothing of an earlier run may stand for what is graded now)."""
    path(course, student, assignment).unlink(missing_ok=True)


def mark_complete(course: Path, student: str, assignment: str) -> VerdictRecord | None:
    """Mark the record complete once its grades and feedback are saved (a rerun may then keep it);
    the record so marked, None when there is none."""
    record = read(course, student, assignment)
    if record is not None:
        record = replace(record, complete=True)
        write_at(path(course, student, assignment), record)
    return record
