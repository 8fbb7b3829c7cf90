"""The hidden test cell's entry point writes nothing to stderr: plain nbgrader zeroes a test cell
with any stderr output, so a warning raised while the trusted side draws or certifies hidden cases
(or by the student's code) must never cost a correct exercise its points."""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from autograder.grading import hidden
from autograder.grading.results import Result


def noisy_check(verdict: str):
    def run_check(function, subject, tol, table):
        warnings.warn("a warning from the trusted side", RuntimeWarning)
        np.log(np.zeros(1))  # numpy's divide-by-zero warning
        print("written to stderr", file=sys.stderr)
        print("written to stdout")
        return Result(function, verdict, f"{function}: {verdict}")
    return run_check


@pytest.mark.parametrize("verdict", ["passed", "failed"])
def test_the_hidden_cell_prints_only_its_verdict(monkeypatch, capsys, verdict):
    monkeypatch.setattr(hidden, "run_check", noisy_check(verdict))
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # as a fresh kernel: every warning would be shown
        if verdict == "passed":
            hidden.hidden_check("forward_propagation", {}, "gradient_checking")
        else:
            with pytest.raises(AssertionError, match="forward_propagation: failed"):
                hidden.hidden_check("forward_propagation", {}, "gradient_checking")
    out, err = capsys.readouterr()
    assert err == ""
    assert out == ("Hidden tests passed for forward_propagation.\n" if verdict == "passed" else "")
