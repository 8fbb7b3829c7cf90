"""The reference numerics: the facts the course teaches, and the certified hidden cases."""
import numpy as np
import pytest

from autograder.course import graders
from autograder.grading.numerics import central_difference
from autograder.grading.tolerances import THRESHOLD

cases = graders.module("gradient_checking", "cases")
reference = graders.module("gradient_checking", "reference")


def test_two_sided_difference_of_the_cube_is_3_0001():
    f = lambda t: t ** 3
    assert (f(1.01) - f(0.99)) / 0.02 == pytest.approx(3.0001, abs=1e-12)
    assert (f(1.01) - f(1.0)) / 0.01 == pytest.approx(3.0301, abs=1e-12)


def test_classic_case_at_1e_7_is_above_the_threshold_for_a_correct_backprop():
    case = cases.classic_case()
    _, cache = reference.forward_propagation_n(case.X, case.Y, case.parameters)
    gradients = reference.backward_propagation_n(case.X, case.Y, cache)
    assert reference.gradient_check_n(case.parameters, gradients, case.X, case.Y, 1e-7) == pytest.approx(1.19e-7, rel=0.01)
    buggy = cases.classic_buggy_gradients(case)
    assert reference.gradient_check_n(case.parameters, buggy, case.X, case.Y, 1e-7) == pytest.approx(0.2851, rel=1e-3)


def test_every_hidden_case_is_certified_with_a_100x_margin():
    found = cases.network_cases()
    assert len(found) >= 5
    assert {c.X.shape[1] for c in found} >= {1, 3, 5, 8, 16}
    for case in found:
        assert case.reference_difference * 100 < THRESHOLD
        assert 1e-6 <= case.epsilon <= 1e-4


def test_vectorised_numerical_gradient_equals_the_plain_loop():
    case = cases.network_cases()[2]
    theta, _ = reference.dictionary_to_vector(case.parameters)
    loop = central_difference(
        lambda t: reference.forward_propagation_n(case.X, case.Y, reference.vector_to_dictionary(t))[0], theta, case.epsilon)
    fast = reference.numerical_gradient_n(case.X, case.Y, case.parameters, case.epsilon)
    np.testing.assert_allclose(fast, loop, rtol=1e-6, atol=1e-9)


def test_a_case_across_a_relu_kink_is_refused():
    case = cases.classic_case()
    case.parameters["b1"][0, 0] -= (case.parameters["W1"] @ case.X + case.parameters["b1"])[0, 0]  # Z1[0,0] = 0
    assert cases.certify(case) is None


def test_conversions_round_trip_in_contract_order():
    params = {k: np.random.default_rng(0).standard_normal(s) for k, s in reference.PARAM_SHAPES.items()}
    theta, keys = reference.dictionary_to_vector(params)
    assert theta.shape == (47, 1) and keys[:20] == ["W1"] * 20 and keys[-1] == "b3"
    back = reference.vector_to_dictionary(theta)
    for k in params:
        np.testing.assert_array_equal(back[k], params[k])
