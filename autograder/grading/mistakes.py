"""Known mistakes in a gradient checker, computed exactly, to recognise them in a result (trusted side).

When a student's checker returns the value one of these would, the feedback names the mistake.
The rule: a mistake is named only when the student's value matches it and nothing else we can
tell apart from it: not a correct checker, not another known mistake, and not the value that
many unrelated mistakes share (a difference of 1, which any gradapprox of 0 or one far larger
than grad gives).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .numerics import nudged_costs, relative_difference

MISTAKE_HINTS = {
    "one_sided": "a one-sided difference (J(θ+ε) − J(θ)) / ε; use the two-sided (J(θ+ε) − J(θ−ε)) / 2ε",
    "plus_for_minus": "J(θ+ε) + J(θ−ε) in gradapprox; the numerator subtracts: J(θ+ε) − J(θ−ε)",
    "eps_not_2eps": "dividing by ε instead of 2ε; the two points are 2ε apart",
    "squared_norms": "squared norms in the difference; use the plain 2-norms (np.linalg.norm)",
    "no_denominator": "no denominator; divide by ‖grad‖ + ‖gradapprox‖",
    "theta_not_copied": "θ not copied before nudging: theta_plus = theta shares memory, so each "
                        "nudge stays in θ; use np.copy(theta)",
}

#: Values shared by too many different mistakes to name one: gradapprox 0 or far larger than
#: grad both give 1. Said as what is wrong instead (SHARED_VALUE_TEXT).
SHARED_VALUES = (1.0,)
SHARED_VALUE_TEXT = ("a difference of about 1 means gradapprox is about 0 or far larger than grad: check that "
                     "J_plus and J_minus are taken at θ+ε and θ−ε, that the numerator subtracts them, and the "
                     "parentheses: (J_plus − J_minus) / (2ε)")
#: How close two values must be to count as the same (the checkers' own rounding is far smaller).
MATCH_RTOL, MATCH_ATOL = 1e-3, 1e-13


def _gradapprox(mistake: str, cost: Callable, theta: np.ndarray, eps: float) -> np.ndarray:
    theta = np.array(theta, dtype=np.float64)
    if mistake == "theta_not_copied":
        approx = np.zeros_like(theta)
        for i in range(theta.size):
            plus = theta  # the alias: the nudge is written into theta itself
            plus.flat[i] += eps
            j_plus = cost(plus)
            minus = np.copy(theta)
            minus.flat[i] -= eps
            approx.flat[i] = (j_plus - cost(minus)) / (2 * eps)
        return approx
    j_plus, j_minus = nudged_costs(cost, theta, eps)
    if mistake == "one_sided":
        return (j_plus - cost(theta.copy())) / eps
    if mistake == "plus_for_minus":
        return (j_plus + j_minus) / (2 * eps)
    if mistake == "eps_not_2eps":
        return (j_plus - j_minus) / eps
    return (j_plus - j_minus) / (2 * eps)


def mistaken_difference(mistake: str, cost: Callable, grad, theta, eps: float) -> float:
    """What a checker with this mistake returns for cost, grad at theta with step eps."""
    grad = np.asarray(grad, dtype=np.float64)
    approx = _gradapprox(mistake, cost, theta, eps)
    g, a = grad.ravel(), approx.ravel()
    if mistake == "squared_norms":
        return float(np.sum((g - a) ** 2) / (np.sum(g ** 2) + np.sum(a ** 2)))
    if mistake == "no_denominator":
        return float(np.linalg.norm(g - a))
    return relative_difference(g, a)


def _same(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=MATCH_RTOL, atol=MATCH_ATOL))


@dataclass
class Observation:
    """One call of a student's checker: what it returned, what a correct one returns, and what
    it checked (cost, grad, theta, eps). extra: predictions of assignment-specific mistakes."""
    value: float
    correct: float
    cost: Callable
    grad: object
    theta: object
    eps: float
    extra: dict = field(default_factory=dict)


def recognise_across(observations: Sequence[Observation], mistakes=tuple(MISTAKE_HINTS),
                     hints: dict | None = None) -> str | None:
    """The hint for the one mistake that every observation agrees with, and that at least one
    observation tells apart from a correct checker, from the other mistakes and from the shared
    values; None when no mistake or several do."""
    hints = {**MISTAKE_HINTS, **(hints or {})}
    predictions = []
    for obs in observations:
        table = {m: mistaken_difference(m, obs.cost, obs.grad, obs.theta, obs.eps) for m in mistakes}
        table.update(obs.extra)
        predictions.append(table)
    names = list(predictions[0]) if predictions else []
    found = []
    for name in names:
        if not all(name in table and _same(obs.value, table[name]) for obs, table in zip(observations, predictions)):
            continue
        told_apart = any(
            not _same(table[name], obs.correct) and not any(_same(table[name], v) for v in SHARED_VALUES)
            and not any(_same(table[name], table[other]) for other in table if other != name)
            for obs, table in zip(observations, predictions))
        if told_apart:
            found.append(name)
    return hints[found[0]] if len(found) == 1 else None


def recognise(value: float, correct: float, cost: Callable, grad, theta, eps: float,
              mistakes=tuple(MISTAKE_HINTS)) -> str | None:
    """The hint for the one known mistake whose result matches value on this one case (see
    recognise_across); None if none or several do."""
    return recognise_across([Observation(value, correct, cost, grad, theta, eps)], mistakes)


def shared_value_text(value: float) -> str | None:
    """What a value shared by many mistakes says about the checker, or None."""
    return SHARED_VALUE_TEXT if any(_same(value, v) for v in SHARED_VALUES) else None
