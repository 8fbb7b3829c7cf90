"""Comparisons for checks: a student's value against the reference, and messages that say where
and by how much (trusted side). For a hidden case a message never gives the expected value.
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
        raise Failed(f"{what} should be a single number, but it has shape {array.shape}")
    return float(array.ravel()[0])


def same_values(got, expected, what: str, rtol=VALUE_RTOL, atol=VALUE_ATOL, public: bool = True) -> None:
    """Fail unless got has expected's shape and values (shape (n,) never passes for (n, 1)).

    For a hidden case the message says where and by how much, never the expected value."""
    got_array = as_array(got, what)
    expected = np.asarray(expected, dtype=np.float64)
    if got_array.shape != expected.shape and not (got_array.size == expected.size == 1):
        raise Failed(f"{what} has shape {got_array.shape}, expected {expected.shape}")
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


def off_by(got: float, expected: float) -> str:
    """How far a value is from the reference, without saying the reference."""
    if expected == 0:
        return "it should be 0"
    ratio = got / expected
    if ratio < 0:
        return "it has the wrong sign"
    if ratio >= 100:
        return f"it is about {readable(ratio)} times too large"
    if 0 < ratio <= 0.01:
        return f"it is about {readable(1 / ratio)} times too small"
    if ratio == 0:
        return "it is 0"
    if np.isclose(ratio, round(ratio)) and round(ratio) > 1:
        return f"it is {round(ratio)} times too large"
    if ratio > 0 and np.isclose(1 / ratio, round(1 / ratio)) and round(1 / ratio) > 1:
        return f"it is {round(1 / ratio)} times too small"
    if abs(ratio - 1) >= 10:
        return f"it is about {readable(ratio)} times too large"
    return f"it is off by {abs(ratio - 1):.2%}"


def readable(number: float) -> str:
    """A factor as a person reads it: 21715872942 -> "2e10", 350 -> "350", 2.5 -> "2.5"."""
    if not 1e-3 <= abs(number) < 1e3:
        mantissa, exponent = f"{number:.0e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{number:.0f}" if abs(number) >= 10 else f"{number:.3g}"


def checker_failure(label: str, eps: float, got: float, expected: float, public: bool, hint: str | None,
                    advice: str) -> Failed:
    """The message for a checker whose result differs from the reference checker's."""
    if public:
        text = f"for {label} (epsilon={eps:g}): returned {got:.6g}, expected {expected:.6g}"
    else:
        text = f"for {label} (epsilon={eps:g}): returned {got:.6g}; {off_by(got, expected)} against the reference checker"
    return Failed(text + (f". It looks like {hint}." if hint else f". {advice}"))
