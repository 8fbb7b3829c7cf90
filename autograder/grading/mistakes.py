"""Known mistakes in a gradient checker, computed exactly, to recognise them in a result (trusted side).

When a student's checker returns the value one of these would, the feedback names the mistake.
"""
from __future__ import annotations

from typing import Callable

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


def recognise(value: float, correct: float, cost: Callable, grad, theta, eps: float,
              mistakes=tuple(MISTAKE_HINTS)) -> str | None:
    """The hint for the one known mistake whose result matches value; None if none or several do."""
    found = []
    for mistake in mistakes:
        expected = mistaken_difference(mistake, cost, grad, theta, eps)
        if np.isclose(expected, correct, rtol=1e-3, atol=1e-13):
            continue  # this case cannot tell the mistake from a correct checker
        if np.isclose(value, expected, rtol=1e-3, atol=1e-13):
            found.append(mistake)
    return MISTAKE_HINTS[found[0]] if len(found) == 1 else None
