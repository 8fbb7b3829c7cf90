"""The statuses an exercise can get, in one place (trusted side).

A status is a `str` (an enum.StrEnum), so it is written to the CSVs, the verdict records and the
feedback pages as the very word it always was ("passed", "error", ...) and compares equal to it.
"""
from __future__ import annotations

import enum

try:
    from enum import StrEnum
except ImportError:  # pragma: no cover - Python 3.10
    class StrEnum(str, enum.Enum):
        """enum.StrEnum as Python 3.11 has it: members are their values, as str."""

        def __str__(self) -> str:
            return str.__str__(self)

        __format__ = str.__format__


class Status(StrEnum):
    """What became of one exercise of one submission."""

    #: every hidden check of the exercise held: full marks
    PASSED = "passed"
    #: a hidden check found a wrong answer (or the score is below full marks for no other reason)
    FAILED = "failed"
    #: the function raised, or the submission could not be taken in or graded at all
    ERROR = "error"
    #: the function, the notebook or its grading ran out of time
    TIMEOUT = "timeout"
    #: the function is not defined or not implemented, or no notebook was handed in
    MISSING = "missing"
    #: feedback pages only: a grader's score stands where the judge's verdict was, or a cell graded by hand
    GRADED = "graded"


#: The statuses the judge, intake or a worker can give an exercise (a CSV's status column).
VERDICTS = frozenset({Status.PASSED, Status.FAILED, Status.ERROR, Status.TIMEOUT, Status.MISSING})

#: Statuses the score alone cannot tell: why an exercise below full marks got no verdict of failed.
UNJUDGED = (Status.ERROR, Status.TIMEOUT, Status.MISSING)

#: Statuses of an exercise that was attempted and did not pass.
FAILING = frozenset({Status.FAILED, Status.ERROR, Status.TIMEOUT})
