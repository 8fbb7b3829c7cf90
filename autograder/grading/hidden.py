"""Entry point of the hidden test cells: run an exercise's hidden check on the notebook's globals.

    from autograder.grading.hidden import hidden_check
    hidden_check("forward_propagation", globals(), "gradient_checking")

Inside the student's kernel this is display only (the judge decides the grade outside it), but
it makes plain `nbgrader autograde` grade the course correctly too. nbgrader zeroes a test cell
that writes to stderr, so the whole check runs silenced: neither a warning from student code nor
one from the trusted side (drawing hidden cases, a saturated sigmoid's log(0) in a draw that
certification then rejects, say) can zero a correct exercise.
"""
from __future__ import annotations

from ..course import graders
from ..course.manifest import tolerances_for
from .results import run_check
from .subject import InProcessSubject, quiet


def hidden_check(function: str, namespace: dict, assignment: str) -> None:
    """Print the verdict of the hidden check; raise AssertionError when it does not pass."""
    with quiet():
        result = run_check(function, InProcessSubject(namespace, graders.resolve), tolerances_for(assignment),
                           graders.checks_for(assignment))
    if not result.passed:
        raise AssertionError(result.message)
    print(f"Hidden tests passed for {function}.")
