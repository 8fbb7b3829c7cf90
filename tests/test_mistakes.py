"""Naming a checker's mistake (autograder/grading/mistakes.py): named only when the value matches
it and nothing else; a value of about 1, which many mistakes share, names nothing by itself, but
names + for − once another case tells that mistake apart from 1.
"""
from __future__ import annotations

import numpy as np

from autograder.grading.mistakes import MISTAKE_HINTS, Observation, mistaken_difference, recognise_across

THETA = np.array([0.3, 0.2, 0.1])
WEIGHTS = np.array([1.0, 2.0, 0.5])


def observation(mistake: str | None, offset: float, eps: float) -> Observation:
    """J(θ) = offset + Σ wθ³/3 (cubic: the two-sided quotient is off by wε²/3, so a correct
    checker returns no 0); a large offset makes (J+ + J−) / 2ε dwarf the gradient."""
    cost = lambda t: float(offset + np.sum(WEIGHTS * np.asarray(t).ravel() ** 3) / 3)
    grad = WEIGHTS * THETA ** 2
    correct = mistaken_difference("two_sided", cost, grad, THETA, eps)
    value = correct if mistake is None else mistaken_difference(mistake, cost, grad, THETA, eps)
    return Observation(value, correct, cost, grad, THETA, eps)


def test_plus_for_minus_is_not_named_from_values_of_about_1_alone():
    saturated = [observation("plus_for_minus", 100.0, 1e-7), observation("plus_for_minus", 5.0, 1e-5)]
    assert all(abs(o.value - 1) < 1e-3 for o in saturated)
    assert recognise_across(saturated) is None


def test_plus_for_minus_is_named_once_one_case_tells_it_apart_from_1():
    telling = observation("plus_for_minus", 1e-4, 1e-2)
    assert abs(telling.value - 1) > 0.05  # far outside the 1e-3 that counts as "about 1"
    both = [observation("plus_for_minus", 100.0, 1e-7), telling]
    assert recognise_across(both) == MISTAKE_HINTS["plus_for_minus"]
    assert recognise_across(both[::-1]) == MISTAKE_HINTS["plus_for_minus"]


def test_nothing_is_named_for_a_correct_checker_or_a_value_that_matches_on_one_case_only():
    assert recognise_across([observation(None, 1e-4, 1e-2), observation(None, 100.0, 1e-7)]) is None
    telling = observation("plus_for_minus", 1e-4, 1e-2)
    other = observation("eps_not_2eps", 1e-4, 1e-2)  # a second case where the value is another mistake's
    mixed = Observation(other.value, other.correct, other.cost, other.grad, other.theta, other.eps)
    assert recognise_across([telling, mixed]) is None


def test_each_mistake_is_named_on_a_case_that_tells_it_apart():
    for mistake in ("one_sided", "eps_not_2eps", "squared_norms", "no_denominator"):
        obs = observation(mistake, 1e-4, 1e-2)
        assert not np.isclose(obs.value, obs.correct, rtol=1e-3), mistake
        assert recognise_across([obs]) == MISTAKE_HINTS[mistake], mistake
