"""Helpers of the visible tests: how a failure is reported, and how student code is run quietly.

This file lives on the student's side: `./kit release` copies it into every assignment's source
and release folders, next to the visible tests that import it. Edit it in autograder/student/.
"""
import contextlib
import functools
import io
import traceback
import warnings

import numpy as np


class VisibleTestFailure(AssertionError):
    """A visible test found a wrong answer.

    Jupyter shows it as its message alone, without a traceback through the test's own code
    (IPython's `_render_traceback_`); the cell still ends in an error, so `nbgrader validate`
    and Restart & Run All see that the test failed."""

    def _render_traceback_(self):
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class NotImplementedYet(VisibleTestFailure):
    """The function under test still raises NotImplementedError, as handed out."""


def visible_test(test):
    """A visible test that fails with one short line while a function it runs is not written yet
    (still raises NotImplementedError, as handed out), naming that function."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        try:
            return test(*args, **kwargs)
        except NotImplementedError as exc:
            frames = traceback.extract_tb(exc.__traceback__)
            name = frames[-1].name if frames else "this function"
            raise NotImplementedYet(f"{name}: not implemented yet") from None
    return run


def call(function, *args):
    """function(*args) run quietly; NotImplementedError becomes one short line for the student."""
    try:
        with quietly():
            return function(*args)
    except NotImplementedError:
        raise NotImplementedYet(f"{getattr(function, '__name__', 'this function')}: not implemented yet") from None


def difference(got, expected):
    """Where an array differs from what was expected: its shape, or the first differing index
    with both values; None when they agree (to 1e-7 relative)."""
    try:
        array = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"got a {type(got).__name__}, not numbers"
    expected = np.asarray(expected, dtype=np.float64)
    if array.shape != expected.shape:
        return f"shape {array.shape}, expected {expected.shape}"
    close = np.isclose(array, expected, rtol=1e-7, atol=1e-10)
    if close.all():
        return None
    index = tuple(int(i) for i in np.argwhere(~close)[0])
    return f"first difference at index {index}: got {array[index]:.10g}, expected {expected[index]:.10g}"


def shown(value):
    """A value as a failure shows it, the same way on both sides: numbers and arrays (lists of
    numbers too) on one line with ten significant digits; text, shapes and anything else as is."""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return str(value)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return repr(value)
    if array.dtype.kind not in "fiub":
        return repr(value)
    if array.ndim == 0:
        return f"{array.item():.10g}" if array.dtype.kind == "f" else str(array.item())
    text = np.array2string(array, separator=", ", max_line_width=10 ** 6, threshold=60,
                           formatter={"float_kind": lambda v: f"{v:.10g}"})
    return " ".join(text.split())


def fail(what, expected, got, look_at):
    """Stop the test: what went wrong, what was expected, what came back, where to look."""
    raise VisibleTestFailure(f"{what}\n  expected: {shown(expected)}\n  got:      {shown(got)}\n"
                             f"  look at:  {look_at}")


def passed(exercise, hidden):
    """Say that the visible tests passed, and what the hidden tests will also grade."""
    print(f"All visible tests passed for {exercise}. "
          f"Hidden tests will also grade this exercise: {hidden}.")


@contextlib.contextmanager
def quietly():
    """Run student code with warnings and stderr captured, then show them on stdout.

    nbgrader marks a test cell failed when anything reaches stderr, so a harmless numpy warning
    from correct code must not get there.
    """
    err = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        yield
    notes = [str(w.message) for w in caught] + ([err.getvalue().strip()] if err.getvalue().strip() else [])
    for note in notes:
        print(f"(note: your code warned: {note})")


class Swapped:
    """Temporarily replace functions that `function` looks up by name (to test it in isolation)."""

    def __init__(self, function, **replacements):
        self.namespace, self.replacements, self.saved = function.__globals__, replacements, {}

    def __enter__(self):
        self.saved = {k: self.namespace.get(k) for k in self.replacements}
        self.namespace.update(self.replacements)

    def __exit__(self, *exc):
        self.namespace.update(self.saved)
