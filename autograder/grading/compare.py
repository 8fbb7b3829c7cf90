"""Comparisons for checks: a student's value against the reference, and messages that say where
and by how much (trusted side). For a hidden case a message never gives the expected value, nor
any number or text the student's value sets (its shape, its digits): a function that turns its
hidden input into its answer must not read that input back in its feedback. It says which check,
which block or component the trusted comparison found, and in which direction it is off.
"""
from __future__ import annotations

import numpy as np

from .results import Failed

# Correct float64 code that orders its operations differently agrees to ~1e-15; every real bug
# we know of is off by more than 1e-6. 1e-9 sits safely between the two.
VALUE_RTOL, VALUE_ATOL = 1e-9, 1e-12


def fmt(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            return np.array2string(value.ravel(), precision=6, separator=", ")
        return f"array of shape {value.shape}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def as_array(value, what: str) -> np.ndarray:
    if isinstance(value, (bool, str)) or value is None or isinstance(value, (list, tuple, dict)):
        raise Failed(f"{what} should be a number or a numpy array, but it is {type(value).__name__}")
    return np.asarray(value, dtype=np.float64)


def as_float(value, what: str) -> float:
    array = as_array(value, what)
    if array.size != 1:
        raise Failed(f"{what} should be a single number, but it is an array")
    return float(array.ravel()[0])


def same_values(got, expected, what: str, rtol=VALUE_RTOL, atol=VALUE_ATOL, public: bool = True) -> None:
    """Fail unless got has expected's shape and values (shape (n,) never passes for (n, 1)).

    For a hidden case the message says where and by how much, never the expected value."""
    got_array = as_array(got, what)
    expected = np.asarray(expected, dtype=np.float64)
    if got_array.shape != expected.shape and not (got_array.size == expected.size == 1):
        if public:
            raise Failed(f"{what} has shape {got_array.shape}, expected {expected.shape}")
        raise Failed(wrong_shape(what, expected.shape))
    if not np.all(np.isfinite(got_array)):
        raise Failed(f"{what} contains nan or inf")
    close = np.isclose(got_array.reshape(expected.shape), expected, rtol=rtol, atol=atol)
    if not close.all():
        got_array = got_array.reshape(expected.shape)
        worst = np.unravel_index(np.argmax(np.abs(got_array - expected)), expected.shape)
        where = f"{what} is wrong at index {tuple(int(i) for i in worst)}"
        if public:
            raise Failed(f"{where}: got {got_array[worst]:.10g}, expected {expected[worst]:.10g}")
        raise Failed(f"{where}: {off_by(got_array[worst], expected[worst])}")


def wrong_shape(what: str, expected_shape: tuple) -> str:
    """A wrong shape in a hidden case: the shape it should have, never the one it has."""
    return f"{what} has the wrong shape: it should have shape {expected_shape}"


#: Integer factors a hidden-case message may name ("2 times too large"): the factors of the
#: mistakes students make (a stray 2 or 1/2 of the central difference, a doubled term), few
#: enough that the words carry no digits of the student's choosing.
NAMED_FACTORS = (2, 3, 4)


def off_by(got: float, expected: float) -> str:
    """How a value is off from the reference in a hidden case, in a handful of fixed words: the
    direction, or one of NAMED_FACTORS, never a number the student's value sets."""
    if expected == 0:
        return "it should be 0"
    ratio = got / expected
    if ratio == 0:
        return "it is 0"
    if not np.isfinite(ratio):
        return "it is far too large"
    if ratio < 0:
        return "it has the wrong sign"
    for factor in NAMED_FACTORS:
        if np.isclose(ratio, factor):
            return f"it is {factor} times too large"
        if np.isclose(1 / ratio, factor):
            return f"it is {factor} times too small"
    return "it is too large" if ratio > 1 else "it is too small"


def checker_failure(label: str, eps: float, got: float, expected: float, public: bool, hint: str | None,
                    advice: str) -> Failed:
    """The message for a checker whose result differs from the reference checker's."""
    if public:
        text = f"for {label} (epsilon={eps:g}): returned {got:.6g}, expected {expected:.6g}"
    else:  # a hidden case: the value returned could carry its inputs back
        text = f"for {label} (epsilon={eps:g}): the difference returned is wrong: {off_by(got, expected)} against the reference checker"
    return Failed(text + (f". It looks like {hint}." if hint else f". {advice}"))
