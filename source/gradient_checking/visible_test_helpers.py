"""Helpers of the visible tests: how a failure is reported, and how student code is run quietly.

This file lives on the student's side: `./kit release` copies it into every assignment's source
and release folders, next to the visible tests that import it. Edit it in autograder/student/.
"""
import contextlib
import io
import warnings

import numpy as np


class VisibleTestFailure(AssertionError):
    """A visible test found a wrong answer."""


def fail(what, expected, got, look_at):
    """Stop the test: what went wrong, what was expected, what came back, where to look."""
    raise VisibleTestFailure(f"{what}\n  expected: {expected}\n  got:      {got}\n  look at:  {look_at}")


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
