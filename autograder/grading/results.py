"""What a check returns and how it fails, and the one way to run a check (trusted side).

A check is `check(subject, tolerances) -> dict` (what it measured); it raises Failed with a
message for the student when the answer is wrong. run_check turns either into a Result.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from .status import Status
from .subject import StudentError, Subject
from .tolerances import Tolerances

#: An exercise's test cell is named for the function it grades (nbgrader grade_id).
EXERCISE_PREFIX = "test_"


def exercise_of(function: str) -> str:
    """The test cell's grade_id of a graded function: test_<function>."""
    return EXERCISE_PREFIX + function


def function_of(exercise: str) -> str:
    """The graded function of a test cell's grade_id (the inverse of exercise_of)."""
    return exercise[len(EXERCISE_PREFIX):] if exercise.startswith(EXERCISE_PREFIX) else exercise


class Failed(Exception):
    """A check found a wrong answer; the message is for the student."""


@dataclass
class Result:
    function: str
    status: Status  # passed, failed, error, timeout or missing
    message: str
    measured: dict = field(default_factory=dict)

    @property
    def exercise(self) -> str:
        return exercise_of(self.function)

    @property
    def passed(self) -> bool:
        return self.status == Status.PASSED


class CheckTable(dict):
    """An assignment's {function: check}, knowing which assignment it belongs to, so that the
    dependency names its checks use are resolved in that assignment's grader."""

    def __init__(self, assignment: str, checks: Mapping[str, Callable]):
        super().__init__(checks)
        self.assignment = assignment


class _Qualified:
    """A Subject whose dependency names are qualified with the assignment: "name:spec"."""

    def __init__(self, subject: Subject, assignment: str):
        self.subject, self.assignment = subject, assignment

    def call(self, function, args, deps=None, unchanged=None):
        qualified = {name: f"{self.assignment}:{spec}" for name, spec in (deps or {}).items()}
        if unchanged:
            return self.subject.call(function, args, qualified, unchanged)
        return self.subject.call(function, args, qualified)


def run_check(function: str, subject: Subject, tol: Tolerances | None = None,
              table: CheckTable | None = None) -> Result:
    """Run one exercise's check from an assignment's table and return a Result."""
    if table is None:
        raise TypeError("run_check needs the assignment's check table (autograder.course.graders.checks_for)")
    if isinstance(table, CheckTable):
        subject = _Qualified(subject, table.assignment)
    try:
        measured = table[function](subject, tol or Tolerances())
    except Failed as failure:
        return Result(function, Status.FAILED, str(failure))
    except StudentError as err:
        message = f"{function} raised an error: {err.message}" if err.status == Status.ERROR else err.message
        return Result(function, err.status, message)
    return Result(function, Status.PASSED, f"{function} passed all hidden checks", measured)
