"""The hidden checks are at least as strict as the visible tests, input by input: for every
exercise of every assignment, each kind of input the visible tests give the student's function
(each array's dimensions, which of them are 1, each dict's keys, each sequence's length) is one the hidden
checks give it too. A result the visible tests can reject on some kind of input is then seen by
the hidden checks as well: a function cannot pass hidden by failing only on inputs hidden never
sends.

The inputs are recorded where the function is entered (a profile hook on its code), so the
visible tests run exactly as in the student's notebook, stand-ins and all.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import sys

import numpy as np
import pytest

from autograder.course import graders, manifest, notebook
from autograder.grading.results import run_check
from autograder.grading.subject import InProcessSubject

from support import ROOT
from test_assignments import inside, notebook_namespace, source_of

ASSIGNMENTS = manifest.available(ROOT)


def kind(value):
    """The kind of an input: its structure without its numbers. An array's kind is its number of
    dimensions and which of them are 1 (a column (n, 1), a row (1, n), a flat (n,) differ; sizes
    do not: the functions are written for any size); a dict's, its keys and their values' kinds."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, float, np.number)):
        return "number"
    if isinstance(value, np.ndarray):
        return ("array", tuple(1 if d == 1 else "n" for d in value.shape))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), kind(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(kind(v) for v in value))
    return type(value).__name__


@contextlib.contextmanager
def entries(function):
    """Record the kind of every argument tuple `function` is entered with (a list)."""
    code, seen = function.__code__, []
    names = code.co_varnames[:code.co_argcount]

    def hook(frame, event, arg):
        if event == "call" and frame.f_code is code:
            seen.append(tuple(kind(frame.f_locals[n]) for n in names if n in frame.f_locals))

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        yield seen
    finally:
        sys.setprofile(previous)


def visible_runner(assignment: str, function: str, namespace: dict):
    """Run the visible test cell of `function` as the notebook does."""
    cell = next(c for c in source_of(assignment, ROOT).cells
                if notebook.is_test_cell(c) and c.metadata["nbgrader"]["grade_id"] == f"test_{function}")
    code = cell.source.split("### BEGIN HIDDEN TESTS")[0]
    return lambda: exec(compile(code, f"<test_{function}>", "exec"), namespace)


def cases():
    for assignment in ASSIGNMENTS:
        for function in graders.load(assignment, ROOT).checks:
            yield pytest.param(assignment, function, id=f"{assignment}-{function}")


@pytest.mark.parametrize("assignment, function", list(cases()))
def test_every_kind_of_input_the_visible_tests_use_the_hidden_checks_use_too(assignment, function):
    namespace = notebook_namespace(assignment, ROOT)
    grader, tolerances = graders.load(assignment, ROOT), manifest.tolerances_for(assignment, ROOT)
    target = namespace[function]
    with inside(ROOT / "source" / assignment), contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
        importlib.invalidate_caches()
        with entries(target) as visible:
            visible_runner(assignment, function, namespace)()
        with entries(target) as hidden:
            result = run_check(function, InProcessSubject(namespace, graders.resolve), tolerances, grader.checks)
    assert result.passed, result.message
    assert visible, f"the visible test of {function} never calls it"
    missing = sorted(set(visible) - set(hidden), key=repr)
    assert not missing, f"{function}: the visible tests give it inputs of kinds the hidden checks never do: {missing}"
