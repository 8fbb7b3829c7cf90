"""The graders' central-difference helper: loop and batched give the same numbers, and gradcheck's
full and fast (directional) modes agree on correct and buggy gradients."""
from __future__ import annotations

import numpy as np
import pytest

from autograder.grading import directional
from autograder.grading.numerics import central_difference, gradcheck, nudged_costs, relative_difference

NET = directional.LayeredNetwork((4, 5, 3, 1))


@pytest.fixture(scope="module")
def problem():
    theta, (X, Y) = NET.init(seed=3), NET.data(5, seed=4)
    return theta, X, Y, NET.gradient(theta, X, Y)


def batched_cost(X, Y):
    return lambda thetas: np.array([NET.cost(column, X, Y) for column in thetas.T])


def test_loop_and_batched_give_the_same_numbers(problem):
    theta, X, Y, _ = problem
    loop = central_difference(lambda t: NET.cost(t, X, Y), theta, 1e-5)
    batched = central_difference(batched_cost(X, Y), theta, 1e-5, batched=True)
    np.testing.assert_array_equal(loop, batched)
    assert loop.shape == theta.shape
    column = theta.reshape(-1, 1)
    assert central_difference(lambda t: NET.cost(t.ravel(), X, Y), column, 1e-5).shape == column.shape


def test_nudged_costs_of_the_cube_are_the_two_sided_values():
    plus, minus = nudged_costs(lambda t: float(np.sum(t ** 3)), np.array([1.0, 2.0]), 0.01)
    np.testing.assert_allclose(plus, [1.01 ** 3 + 8, 1 + 2.01 ** 3])
    np.testing.assert_allclose(minus, [0.99 ** 3 + 8, 1 + 1.99 ** 3])
    assert (plus - minus)[0] / 0.02 == pytest.approx(3.0001, abs=1e-12)


def test_gradcheck_full_and_fast_mode_agree(problem):
    theta, X, Y, grad = problem
    cost, piece = (lambda t: NET.cost(t, X, Y)), (lambda t: NET.pattern(t, X))
    buggy = grad.copy()
    buggy[NET.blocks["W2"]] *= 2
    for gradient, verdict in ((grad, "passed"), (buggy, "failed")):
        full = gradcheck(cost, theta, gradient, epsilon=1e-6)
        fast = gradcheck(cost, theta, gradient, fast_mode=True, piece=piece)
        assert (full.status, fast.status) == (verdict, verdict)
    assert full.difference == pytest.approx(relative_difference(buggy, central_difference(cost, theta, 1e-6)))
    with pytest.raises(TypeError, match="only the fast mode"):
        gradcheck(cost, theta, grad, epsilon=1e-6, piece=piece)
