"""What intake reports (trusted side): a submission it could not take in, or submissions it cannot read
at all. Its own module, so that intake.py and lms.py, which both report them, import neither each other."""
from __future__ import annotations

from dataclasses import dataclass

from ...grading.status import Status


class IntakeError(Exception):
    """The submissions as a whole cannot be read (a missing path, a corrupt zip)."""


@dataclass
class Problem:
    student_id: str  # as the download names it, with control characters escaped (untrusted_text.printable)
    status: Status  # error or missing
    message: str
    source: str = ""  # what was handed in: the file or folder name(s), escaped
