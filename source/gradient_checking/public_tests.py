"""Visible tests for the gradient-checking assignment.

Run them as often as you like. Each one checks values on a few fixed cases and, when something
is off, tells you what it expected, what your function returned and where to look next.
Passing them is necessary, not sufficient: hidden tests grade every exercise on other cases.
"""
import contextlib
import io

import numpy as np

from gc_utils import gradient_check_n_test_case
from visible_test_helpers import VisibleTestFailure, Swapped, fail, passed, quietly  # noqa: F401

ORDER = ("W1", "b1", "W2", "b2", "W3", "b3")
SHAPES = {"W1": (5, 4), "b1": (5, 1), "W2": (3, 5), "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)}


def _close(got, expected, rtol=1e-7, atol=1e-10):
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return got.shape == np.shape(expected) and bool(np.allclose(got, expected, rtol=rtol, atol=atol))


def _failing(namespace, *names):
    """Those of `names` whose function in namespace fails its own visible test (run quietly)."""
    failing = []
    for name in names:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                globals()["test_" + name](namespace.get(name))
        except Exception:
            failing.append(name)
    return failing


def _not_run(exercise, failing):
    print(f"The visible tests of {exercise} did not run: it needs {', '.join(failing)}, which does "
          f"not pass its own visible tests yet. Fix that first. (The hidden tests grade {exercise} "
          f"with correct versions of the functions it needs.)")


# ---- 1-D --------------------------------------------------------------------------------------

def test_forward_propagation(forward_propagation):
    for x, theta in [(2, 4), (-3.0, 0.5), (0.25, -8.0)]:
        with quietly():
            J = forward_propagation(x, theta)
        if not _close(J, x * theta):
            fail(f"forward_propagation({x}, {theta}) is wrong.", x * theta, J,
                  "J is the linear function theta * x.")
    passed("forward_propagation", "J = theta * x on other numbers, including arrays")


def test_backward_propagation(backward_propagation):
    for x, theta in [(2, 4), (-3.0, 0.5), (0.25, -8.0)]:
        with quietly():
            dtheta = backward_propagation(x, theta)
        if not _close(dtheta, x):
            fail(f"backward_propagation({x}, {theta}) is wrong.", x, dtheta,
                  "the derivative of J = theta * x with respect to theta.")
    passed("backward_propagation", "dJ/dtheta on other numbers, including arrays")


def test_gradient_check(gradient_check):
    # J = theta * x and dtheta = x stand in for your forward/backward_propagation: this tests
    # gradient_check alone.
    with Swapped(gradient_check, forward_propagation=lambda x, theta: theta * x,
                  backward_propagation=lambda x, theta: x), quietly():
        difference = gradient_check(2, 4, 1e-7)
    if not (isinstance(difference, (float, np.floating)) or np.ndim(difference) == 0):
        fail("gradient_check should return one number.", "a float", type(difference).__name__,
              "return the relative difference, not gradapprox or grad.")
    if not 0 < float(difference) < 1e-7:
        fail("gradient_check(2, 4) should be tiny but not zero: the two-sided difference of "
              "J = 4 * 2 carries a little rounding error.", "between 0 and 1e-7", difference,
              "compute gradapprox from forward_propagation at theta + epsilon and theta - epsilon, "
              "and grad from backward_propagation.")
    # With a non-linear J = x * theta**3 the two-sided difference at epsilon = 0.01 is
    # 3.0001 against the true 3, so the difference is 0.0001 / 6.0001.
    cube = lambda x, theta: x * theta ** 3
    cube_grad = lambda x, theta: 3 * x * theta ** 2
    with Swapped(gradient_check, forward_propagation=cube, backward_propagation=cube_grad), quietly():
        difference = gradient_check(1.0, 1.0, 0.01)
    if not _close(difference, 1e-4 / 6.0001, rtol=1e-4):
        hints = {round(0.0301 / 6.0301, 6): "that is a one-sided difference; use (J(θ+ε) − J(θ−ε)) / (2ε).",
                 round(3.0002 / 9.0002, 6): "that divides by ε instead of 2ε."}
        fail("with J = x * theta**3 at x = 1, theta = 1, epsilon = 0.01, the difference is wrong.",
              f"{1e-4 / 6.0001:.6g}", difference,
              hints.get(round(float(difference), 6), "gradapprox = (J(θ+ε) − J(θ−ε)) / (2ε), then "
                        "‖grad − gradapprox‖ / (‖grad‖ + ‖gradapprox‖)."))
    passed("gradient_check", "the difference it returns on non-linear costs and on wrong "
            "gradients, against a reference checker")


# ---- conversions ------------------------------------------------------------------------------

def _numbered(prefix=""):
    """Blocks filled with 0, 1, 2, ... in the order W1, b1, W2, b2, W3, b3."""
    blocks, start = {}, 0
    for key in ORDER:
        size = SHAPES[key][0] * SHAPES[key][1]
        blocks[prefix + key] = np.arange(start, start + size, dtype=np.float64).reshape(SHAPES[key])
        start += size
    return blocks


def test_dictionary_to_vector(dictionary_to_vector):
    with quietly():
        result = dictionary_to_vector(_numbered())
    if not isinstance(result, tuple) or len(result) != 2:
        fail("dictionary_to_vector should return a pair.", "(theta, keys)", type(result).__name__,
              "the return statement.")
    theta = result[0]
    expected = np.arange(47, dtype=np.float64).reshape(47, 1)
    if not _close(theta, expected, atol=0):
        fail("with W1 = 0..19, b1 = 20..24, W2 = 25..39, ... theta should count 0..46 in order.",
              "a (47, 1) column 0, 1, ..., 46", np.asarray(theta).ravel()[:10].tolist() + ["..."],
              "the order W1, b1, W2, b2, W3, b3 and reshape(-1, 1) of each block.")
    passed("dictionary_to_vector", "theta for random parameters")


def test_vector_to_dictionary(vector_to_dictionary):
    with quietly():
        parameters = vector_to_dictionary(np.arange(47, dtype=np.float64).reshape(47, 1))
    for key, want in _numbered().items():
        got = parameters.get(key) if isinstance(parameters, dict) else None
        if not _close(got, want, atol=0):
            fail(f"{key} is wrong for theta = 0..46.", want.tolist(), got,
                  f"the slice of theta for {key} and its reshape to {SHAPES[key]}.")
    passed("vector_to_dictionary", "every block for random theta")


def test_gradients_to_vector(gradients_to_vector):
    gradients = _numbered("d")
    gradients["dZ1"] = np.full((5, 3), -1.0)  # backward_propagation_n returns extra entries too
    with quietly():
        theta = gradients_to_vector(gradients)
    if not _close(theta, np.arange(47, dtype=np.float64).reshape(47, 1), atol=0):
        fail("with dW1 = 0..19, db1 = 20..24, ... the vector should count 0..46 in order.",
              "a (47, 1) column 0, 1, ..., 46", np.asarray(theta).ravel()[:10].tolist() + ["..."],
              "take only dW1, db1, dW2, db2, dW3, db3, in that order.")
    passed("gradients_to_vector", "the vector for random gradients that come with extra entries")


# ---- the network ------------------------------------------------------------------------------

CLASSIC_COST = 2.407833389834357
CLASSIC_A3 = np.array([[0.972066724601, 0.665832567884, 0.998873288763]])
CLASSIC_GRADIENTS = {
    "dW1": [[-0.37347778781, -1.47903216031, 0.175961425343, -1.336850364496],
            [-0.019675136157, -0.085735534015, 0.011884652346, -0.07674312151],
            [0.03916037129, -0.055397349869, 0.048727147281, -0.093593934454],
            [-0.05337777545, -0.21138458327, 0.025148562395, -0.191063835376],
            [0.0, 0.0, 0.0, 0.0]],
    "db1": [[0.632907871976], [0.037251398002], [-0.06401301305], [0.09045575232], [0.0]],
    "dW2": [[0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0],
            [0.915801651879, 0.024515475915, -0.107979537846, 0.90281890914, 0.0]],
    "db2": [[0.0], [0.0], [0.197633425239]],
    "dW3": [[0.0, 0.0, 2.24404237799]],
    "db3": [[0.212257527083]],
}


def test_forward_propagation_n(forward_propagation_n):
    X, Y, parameters = gradient_check_n_test_case()
    with quietly():
        result = forward_propagation_n(X, Y, parameters)
    if not isinstance(result, tuple) or len(result) != 2:
        fail("forward_propagation_n should return a pair.", "(cost, cache)", type(result).__name__,
              "the return statement.")
    cost, cache = result
    if len(cache) != 12:
        fail("the cache has the wrong length.", "(Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)",
              f"{len(cache)} entries", "the order and number of entries of the cache.")
    if not _close(cache[9], CLASSIC_A3):
        fail("A3 (cache[9]) is wrong on the classic test case.", CLASSIC_A3.tolist(), cache[9],
              "LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID, and the cache order.")
    if not _close(np.squeeze(cost), CLASSIC_COST, rtol=1e-9):
        fail("the cost is wrong on the classic test case.", CLASSIC_COST, cost,
              "the mean over the m examples of −(Y log A3 + (1 − Y) log(1 − A3)).")
    passed("forward_propagation_n", "the cost and every cache entry on other inputs and "
            "other numbers of examples")


def test_backward_propagation_n(backward_propagation_n, forward_propagation_n):
    failing = _failing({"forward_propagation_n": forward_propagation_n}, "forward_propagation_n")
    if failing:
        return _not_run("backward_propagation_n", failing)
    X, Y, parameters = gradient_check_n_test_case()
    with quietly():
        _, cache = forward_propagation_n(X, Y, parameters)
        gradients = backward_propagation_n(X, Y, cache)
    wrong = []
    for key, want in CLASSIC_GRADIENTS.items():
        got = gradients.get(key) if isinstance(gradients, dict) else None
        if not _close(got, np.array(want), rtol=1e-8, atol=1e-11):
            wrong.append(key)
    if wrong:
        first = wrong[0]
        fail(f"these gradients are wrong on the classic test case: {', '.join(wrong)} "
              f"(the others agree).", np.array(CLASSIC_GRADIENTS[first]).tolist(),
              gradients.get(first) if isinstance(gradients, dict) else gradients,
              f"the lines that compute {first}: a stray factor, a missing 1/m, or a transpose.")
    passed("backward_propagation_n", "a central-difference gradient check below 1e-7 on other "
            "inputs, other numbers of examples and other random draws")


def test_gradient_check_n(gradient_check_n, forward_propagation_n=None, backward_propagation_n=None):
    failing = _failing(gradient_check_n.__globals__, "dictionary_to_vector", "vector_to_dictionary",
                       "gradients_to_vector", "forward_propagation_n")
    if failing:
        return _not_run("gradient_check_n", failing)
    X, Y, parameters = gradient_check_n_test_case()
    correct = {k: np.array(v) for k, v in CLASSIC_GRADIENTS.items()}
    buggy = dict(correct, dW2=correct["dW2"] * 2, db1=correct["db1"] * 4)
    with quietly():
        difference = gradient_check_n(parameters, buggy, X, Y, 1e-5)
    if not _close(np.squeeze(difference), 0.285093149, rtol=1e-4):
        fail("with the classic bugs (dW2 doubled, db1 times 4) and epsilon = 1e-5 the difference "
              "is wrong.", 0.285093149, difference,
              "copy theta before each nudge, (J_plus − J_minus) / (2 epsilon), and the 2-norms.")
    with quietly():
        difference = gradient_check_n(parameters, correct, X, Y, 1e-5)
    if not float(np.squeeze(difference)) < 1e-7:
        fail("with correct gradients and epsilon = 1e-5 the difference should be below 1e-7.",
              "< 1e-7", difference, "gradapprox for each of the 47 parameters.")
    passed("gradient_check_n", "the difference it returns on other networks, smooth non-linear "
            "costs and wrong gradients, against a reference checker")
