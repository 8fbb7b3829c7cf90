"""Entry point of the hidden test cells: run an exercise's hidden check on the notebook's globals.

Inside the student's kernel this is display only (the judge decides the grade outside it), but
it makes plain `nbgrader autograde` grade the course correctly too. It writes nothing to stderr,
so a warning from student code can never zero a correct exercise.
"""
from __future__ import annotations

from .checks import Tolerances, run_check
from .dependencies import resolve
from .manifest import ManifestError, load
from .registry import checks_for
from .subject import InProcessSubject


def tolerances_for(assignment: str) -> Tolerances:
    """The manifest's threshold and reference steps, or the defaults when it cannot be read."""
    try:
        manifest = load(assignment)
    except ManifestError:
        return Tolerances()
    return Tolerances(manifest.threshold, manifest.reference_epsilons)


def hidden_check(function: str, namespace: dict, assignment: str = "gradient_checking") -> None:
    """Print the verdict of the hidden check; raise AssertionError when it does not pass."""
    result = run_check(function, InProcessSubject(namespace, resolve), tolerances_for(assignment),
                       checks_for(assignment))
    if not result.passed:
        raise AssertionError(result.message)
    print(f"Hidden tests passed for {function}.")
