"""What crosses between the run and its grading workers, typed (trusted side).

A worker starts with the run's `WorkerSettings` (one JSON argument on its command line, or a Dask
plugin's field); a `Task` goes to it (one JSON line on a pool worker's stdin, or a Dask task's argument); an
`Answer` comes back (one `WORKER-RESULT {...}` line, or inside a Dask task's result); the run
turns it into the student's `Outcome`. Both executors, the local pool and the Dask cluster, use
these and nothing else: a field is added here, once.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ...grading.status import Status
from ...judge.sandbox import Limits
from ..gradebook.verdicts import VerdictRecord

#: What a grading worker writes before each answer on its stdout (anything else there is noise).
RESULT_PREFIX = "WORKER-RESULT "


class Stage:
    """Where grading a submission stopped, in a failed Answer."""
    AUTOGRADE = "autograde"  # nbgrader's autograde (with the judge) failed
    WORKER = "worker"  # the worker itself failed, died or could not be started or reached
    TIMEOUT = "timeout"  # the worker did not answer within the time budget (budget.task_seconds)


def _known(cls, data: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class Task:
    """Grade one student's submission (already in the worker's course folder)."""
    student: str
    sha256: str = ""  # of the submitted file, stored with the verdicts
    resume_key: str = ""  # resume.resume_key, stored with the verdicts

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Task":
        return cls(**_known(cls, data))

    def to_line(self) -> str:
        return json.dumps(self.to_dict()) + "\n"

    @classmethod
    def from_line(cls, line: str) -> "Task":
        return cls.from_dict(json.loads(line))


@dataclass
class Answer:
    """A grading worker's answer to one Task."""
    ok: bool
    stage: str = ""  # when not ok: a Stage
    error: str = ""  # when not ok: what went wrong (its last line is what the student's row says)
    retire: bool = False  # the worker exits after this answer; a fresh one takes its place
    note: str = ""  # for the instructor, e.g. the feedback page could not be written but the grades stand
    autograde_seconds: float = 0.0
    feedback_seconds: float = 0.0
    student: str = ""
    worker_pid: int = 0
    worker: str = ""  # the Dask worker's address
    scratch: str = ""  # the Dask worker's scratch course
    record: VerdictRecord | None = None  # when ok: the verdict record the judge left (None: it left none)

    @classmethod
    def failed(cls, stage: str, error: str = "", retire: bool = False) -> "Answer":
        return cls(False, stage, error, retire)

    @classmethod
    def timed_out(cls) -> "Answer":
        return cls(False, Stage.TIMEOUT)

    @classmethod
    def worker_gone(cls) -> "Answer":
        return cls(False, Stage.WORKER, "the grading worker stopped unexpectedly")

    @classmethod
    def raised(cls, exc: BaseException, retire: bool = False) -> "Answer":
        return cls(False, Stage.WORKER, f"{type(exc).__name__}: {exc}"[-2000:], retire)

    def to_dict(self) -> dict:
        return {**asdict(replace(self, record=None)), "record": self.record.to_dict() if self.record else None}

    @classmethod
    def from_dict(cls, data: dict) -> "Answer":
        """The answer in `data`; raises KeyError, TypeError or ValueError when its record is not one."""
        known = _known(cls, data)
        record = known.pop("record", None)
        return cls(**known, record=VerdictRecord.from_dict(record) if record is not None else None)

    def to_line(self) -> str:
        return RESULT_PREFIX + json.dumps(self.to_dict(), default=float) + "\n"

    @classmethod
    def from_line(cls, line: str) -> "Answer":
        """The answer on a worker's output line (without or with RESULT_PREFIX)."""
        return cls.from_dict(json.loads(line.removeprefix(RESULT_PREFIX)))


@dataclass
class Graded:
    """A Dask task's result: the worker's answer and, when it is ok, what grading produced, as data."""
    answer: Answer
    seconds: float = 0.0
    files: dict = field(default_factory=dict)  # {path relative to the course: bytes}: autograded/, feedback/
    rows: dict | None = None  # the student's gradebook rows (gradebook/submission_rows.read)

    def to_dict(self) -> dict:
        return {"answer": self.answer.to_dict(), "seconds": self.seconds, "files": self.files, "rows": self.rows}

    @classmethod
    def from_dict(cls, data: dict) -> "Graded":
        return cls(Answer.from_dict(data["answer"]), data.get("seconds", 0.0), dict(data.get("files") or {}),
                   data.get("rows"))


@dataclass
class Outcome:
    """What became of one student's grading in this run, on either executor."""
    student: str
    ok: bool
    status: Status = Status.PASSED
    message: str = ""
    seconds: float = 0.0
    answer: Answer = field(default_factory=lambda: Answer(True))


def outcome_for(student: str, answer: Answer, seconds: float, budget: float) -> Outcome:
    """The run's outcome for a grading worker's answer (either executor's), worded once."""
    if answer.ok:
        return Outcome(student, True, seconds=seconds, answer=answer)
    if answer.stage == Stage.TIMEOUT:
        return Outcome(student, False, Status.TIMEOUT, f"grading did not finish within {budget:.0f} s", seconds,
                       answer)
    detail = str(answer.error or "no details").strip().splitlines()[-1:] or ["no details"]
    return Outcome(student, False, Status.ERROR, f"nbgrader could not grade this submission "
                   f"({answer.stage or Stage.WORKER}): {detail[0][-400:]}", seconds, answer)


@dataclass(frozen=True)
class WorkerSettings:
    """What a grading worker needs to grade any student of the run."""
    course: Path  # the course folder it grades into (OUT, or a Dask worker's scratch course)
    assignment: str
    db_url: str  # never with a password (gradebook.password_to_environment): it is on a command line
    limits: Limits = field(default_factory=Limits)
    executor: str = "sandbox"
    hide: tuple[str, ...] = ()  # paths student code must not see (the submissions, the roster, ...)

    def for_course(self, course: Path, db_url: str, hide=()) -> "WorkerSettings":
        """The same settings for another course folder and gradebook, hiding `hide` too (a Dask worker's)."""
        return replace(self, course=Path(course), db_url=db_url, hide=(*self.hide, *map(str, hide)))

    def to_json(self) -> str:
        data = asdict(self)
        data["course"] = str(self.course)
        data["hide"] = list(self.hide)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "WorkerSettings":
        data = json.loads(text)
        return cls(Path(data["course"]), data["assignment"], data["db_url"], Limits(**data["limits"]),
                   data["executor"], tuple(data["hide"]))
