"""Probing a checker part by part (autograder/student/checker_probes.py): the points it evaluated name a
loop mistake only when they show it; a formula is named only when it alone matches every probe;
and a checker whose mistakes give the same number on an ordinary case (θ⁻ built from θ⁺, θ not
copied) is told apart by what the probes saw.
"""
from __future__ import annotations

import numpy as np
import pytest

from autograder.student import checker_probes as probes
from autograder.student.checker_probes import HINTS, Probe, diagnose, read_formula, read_loop

THETA = np.array([0.5, -0.25, 0.0, 1.0])
EPS = probes.PROBE_EPSILON
W = np.array([0.25, -0.5, 0.75, -1.0])


def cost(theta):
    """w·θ + ‖θ‖²/2: two-sided differences of it are exact in float64 for these dyadic numbers."""
    theta = np.asarray(theta, dtype=np.float64).ravel()
    return float(W @ theta + theta @ theta / 2)


def checker(loop: str = "correct", quotient: str = "two_sided", formula: str = "correct"):
    """A 4-parameter gradient checker with one part written wrong, evaluating `cost` through the
    recording hook as the judge's stand-ins do."""
    def evaluate(theta):
        probes.record(theta)
        return cost(theta)

    def check(grad):
        theta = THETA.copy()
        approx = np.zeros_like(theta)
        plus_out, minus_out = theta.copy(), theta.copy()
        for i in range(theta.size):
            if loop == "aliased":
                plus = theta
            elif loop == "outside":
                plus = plus_out
            else:
                plus = theta.copy()
            if loop == "all_at_once":
                plus = theta + EPS
            else:
                plus[i] += EPS
            j_plus = evaluate(plus)
            if loop == "minus_from_plus":
                minus = plus.copy()
            elif loop == "outside":
                minus = minus_out
            else:
                minus = theta.copy()
            if loop == "all_at_once":
                minus = theta - EPS
            else:
                minus[i] -= EPS
            j_minus = evaluate(minus)
            if quotient == "one_sided":
                approx[i] = (j_plus - evaluate(theta.copy())) / EPS
            elif quotient == "eps":
                approx[i] = (j_plus - j_minus) / EPS
            else:
                approx[i] = (j_plus - j_minus) / (2 * EPS)
        g, a = np.asarray(grad, dtype=np.float64), approx
        if formula == "squared":
            return float(np.sum((g - a) ** 2) / (np.sum(g ** 2) + np.sum(a ** 2)))
        if formula == "sum_denominator":
            return float(np.linalg.norm(g - a) / np.linalg.norm(g + a))
        return float(np.linalg.norm(g - a) / (np.linalg.norm(g) + np.linalg.norm(a)))

    return Probe(THETA, EPS, cost, W + THETA, lambda grad, flat: check(grad))


@pytest.mark.parametrize("loop, finding", [
    ("correct", None), ("aliased", "theta_aliased"), ("outside", "copy_outside_loop"),
    ("all_at_once", "all_at_once"), ("minus_from_plus", "minus_at_theta")])
def test_the_points_a_checker_evaluates_name_its_loop_mistake(loop, finding):
    with probes.recording() as seen:
        checker(loop).call(W + THETA, False)
    assert read_loop(seen.points, THETA, EPS).finding == finding


def test_theta_minus_from_theta_plus_and_theta_not_copied_are_told_apart():
    """Both halve gradapprox on an ordinary case; the points say which one it is."""
    assert diagnose(checker("minus_from_plus")) == "minus_at_theta"
    assert diagnose(checker("aliased")) == "theta_aliased"


@pytest.mark.parametrize("quotient, formula, finding", [
    ("two_sided", "correct", "parts_right"), ("one_sided", "correct", "one_sided"),
    ("eps", "correct", "eps_not_2eps"), ("two_sided", "squared", "squared_norms"),
    ("two_sided", "sum_denominator", "denominator_of_sum")])
def test_the_quotient_and_the_formula_are_measured_alone(quotient, formula, finding):
    assert diagnose(checker(quotient=quotient, formula=formula)) == finding
    assert HINTS[finding]


def test_a_formula_is_named_only_when_it_alone_matches_every_probe():
    slope = W + THETA
    correct = [probes.FORMULAS["correct"](g, slope) for g in probes.formula_probes(slope)]
    assert read_formula(slope, correct) is None
    assert read_formula(slope, [0.123, 0.456]) == "formula_other"


def test_nothing_is_said_when_the_cost_was_never_evaluated_or_the_call_failed():
    assert read_loop([], THETA, EPS) is None
    assert diagnose(Probe(THETA, EPS, cost, W + THETA, lambda grad, flat: None)) is None


def test_nudges_of_another_size_than_epsilon_are_seen():
    assert read_loop([THETA + 1e-7 * np.eye(4)[0]], THETA, EPS).finding == "epsilon_ignored"
