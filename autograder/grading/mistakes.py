"""What a checker's result says when it is a value many different mistakes share (trusted side).

A difference of about 1 comes from any gradapprox of about 0 or far larger than grad: it names
no one mistake, so the feedback says what such a value means instead. Mistakes themselves are
named only once a probe has shown them (autograder.student.checker_probes).
"""
from __future__ import annotations

import numpy as np

#: Values shared by too many different mistakes to name one: gradapprox 0 or far larger than
#: grad both give 1. Said as what is wrong instead (SHARED_VALUE_TEXT).
SHARED_VALUES = (1.0,)
SHARED_VALUE_TEXT = ("a difference of about 1 means gradapprox is about 0 or far larger than grad: check that "
                     "J_plus and J_minus are taken at θ+ε and θ−ε, that the numerator subtracts them, and the "
                     "parentheses: (J_plus − J_minus) / (2ε)")
#: How close a value must be to a shared one to count as it (a checker's own rounding is far smaller).
MATCH_RTOL, MATCH_ATOL = 1e-3, 1e-13


def shared_value_text(value: float) -> str | None:
    """What a value shared by many mistakes says about the checker, or None."""
    close = any(np.isclose(value, v, rtol=MATCH_RTOL, atol=MATCH_ATOL) for v in SHARED_VALUES)
    return SHARED_VALUE_TEXT if close else None
