"""Central-difference numerics for graders: one helper, as a loop or batched, and the check built
on it, with the directional check as its fast mode, as torch.autograd.gradcheck does (trusted side).

Float64 throughout. A cost takes θ (any shape; one column of θ's N numbers when batched) and
returns a float; batched, it takes an (N, K) array and returns the K costs of its columns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .tolerances import THRESHOLD

#: The step of the full check when none is given: near u^(1/3), where truncation (~ε²) and
#: rounding (~u/ε) error of the two-sided difference are together smallest.
DEFAULT_EPSILON = 1e-6


def relative_difference(grad, gradapprox) -> float:
    """||grad - gradapprox||_2 / (||grad||_2 + ||gradapprox||_2); 0 when both are zero."""
    grad = np.asarray(grad, dtype=np.float64).ravel()
    gradapprox = np.asarray(gradapprox, dtype=np.float64).ravel()
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(grad - gradapprox) / denominator)


def nudged_costs(cost: Callable, theta, epsilon: float, batched: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(J(θ + ε e_i), J(θ − ε e_i)) for every component i, each shaped like θ.

    The loop nudges one component of a copy at a time; batched, the 2N nudged vectors go to
    cost in one (N, 2N) array (one array operation instead of 2N calls).
    """
    theta = np.asarray(theta, dtype=np.float64)
    n = theta.size
    if batched:
        steps = epsilon * np.eye(n)
        column = theta.reshape(-1, 1)
        costs = np.asarray(cost(np.hstack([column + steps, column - steps])), dtype=np.float64).reshape(-1)
        return costs[:n].reshape(theta.shape), costs[n:].reshape(theta.shape)
    plus_costs, minus_costs = np.zeros_like(theta), np.zeros_like(theta)
    for i in range(n):
        plus, minus = theta.copy(), theta.copy()
        plus.flat[i] += epsilon
        minus.flat[i] -= epsilon
        plus_costs.flat[i] = cost(plus)
        minus_costs.flat[i] = cost(minus)
    return plus_costs, minus_costs


def central_difference(cost: Callable, theta, epsilon: float, batched: bool = False) -> np.ndarray:
    """The two-sided difference (J(θ + ε e_i) − J(θ − ε e_i)) / 2ε of every component, shaped like θ."""
    plus, minus = nudged_costs(cost, theta, epsilon, batched)
    return (plus - minus) / (2 * epsilon)


def block_differences(grad, gradapprox, blocks: dict[str, slice]) -> dict[str, float]:
    """relative_difference of each named block (a slice of the flattened vectors)."""
    grad, gradapprox = np.ravel(grad), np.ravel(gradapprox)
    return {name: relative_difference(grad[where], gradapprox[where]) for name, where in blocks.items()}


@dataclass(frozen=True)
class GradcheckResult:
    """The full check's verdict: the relative difference against the threshold."""
    difference: float
    threshold: float

    @property
    def status(self) -> str:
        return "passed" if self.difference < self.threshold else "failed"

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def gradcheck(cost: Callable, theta, grad, *, epsilon: float | None = None, threshold: float | None = None,
              batched: bool = False, fast_mode: bool = False, **fast_options):
    """Check grad, the gradient a backward pass returned at θ, against the cost's central difference.

    Full mode compares every component (2N costs) and returns a GradcheckResult. fast_mode=True
    runs the directional check instead: k random directions, 2k costs whatever N is (options:
    directions, seed, piece; see autograder.grading.directional), and returns its
    DirectionalResult. Both have .status and .passed. Defaults: full mode the course's threshold
    and a step of 1e-6, fast mode the directional check's own (justified there).
    """
    if fast_mode:
        from . import directional
        return directional.directional_check(
            cost, theta, grad, batched=batched, epsilon=directional.EPSILON if epsilon is None else epsilon,
            threshold=directional.THRESHOLD if threshold is None else threshold, **fast_options)
    if fast_options:
        raise TypeError(f"only the fast mode takes {', '.join(sorted(fast_options))}")
    epsilon = DEFAULT_EPSILON if epsilon is None else epsilon
    threshold = THRESHOLD if threshold is None else threshold
    approx = central_difference(cost, np.asarray(theta, dtype=np.float64).reshape(-1), epsilon, batched)
    return GradcheckResult(relative_difference(grad, approx), threshold)
