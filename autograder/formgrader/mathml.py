"""TeX in a notebook's markdown as MathML, written into the page on the server: browsers render it
natively, offline, with no script (the formgrader's policy allows none but its own).

Trusted side, in the formgrader server, on TeX a student may have written. It converts and cleans with the
feedback pages' own converter and MathML allowlist (pipeline/feedback: math.py, sanitiser.py).
"""
from __future__ import annotations

import re
import secrets

from ..pipeline.feedback.math import tex_to_mathml
from ..pipeline.feedback.sanitiser import clean_mathml


def to_mathml(tex: str, block: bool) -> str:
    """One formula as sanitised MathML (the feedback pages' converter and allowlist); its TeX as
    code if it cannot be converted."""
    return clean_mathml(tex_to_mathml(tex, display=block))


class Formulas:
    """The formulas of one page, held out as placeholders while its markup is rendered and
    sanitised (a random token per page: a student cannot write one), then put back as MathML."""

    def __init__(self):
        self.token = "kitmath" + secrets.token_hex(8)
        self.held: list[tuple[str, bool]] = []

    def placeholder(self, tex: str, block: bool) -> str:
        self.held.append((tex, block))
        return f"{self.token}n{len(self.held) - 1}x"

    def put_back(self, page: str) -> str:
        return re.sub(f"{self.token}n(\\d+)x", lambda m: to_mathml(*self.held[int(m.group(1))]), page)
