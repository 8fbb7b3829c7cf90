"""Visible tests for the gradient-checking lab.

Run them as often as you like. Each one checks a few fixed cases and, when something is off,
tells you what it expected, what your function returned and where to look next. Passing them is
necessary, not sufficient: hidden tests grade every exercise on other cases.
"""
import numpy as np

from lab_utils import (backward_propagation_n, backward_propagation_n_clipped, backward_with_dropout,
                       forward_propagation_n, forward_with_dropout, gradient_check_n,
                       gradient_check_n_test_case, training_data)
from visible_test_helpers import VisibleTestFailure, Swapped, fail, passed, visible_test  # noqa: F401

BACKPROP_ORDER = ("dW3", "db3", "dW2", "db2", "dW1", "db1")


def _close(got, expected, rtol=1e-7, atol=1e-12):
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return got.size == np.size(expected) and bool(
        np.allclose(got.ravel(), np.ravel(expected), rtol=rtol, atol=atol))


def _number(value):
    try:
        return float(np.squeeze(value))
    except (TypeError, ValueError):
        return None


# ---- 1. Choosing epsilon -----------------------------------------------------------------------

def _cube(theta):
    return float(np.sum(theta ** 3))


def _cube_gradient(theta):
    return 3 * theta ** 2


def _relative(grad, approx):
    return np.linalg.norm(grad - approx) / (np.linalg.norm(grad) + np.linalg.norm(approx))


@visible_test
def test_error_curve(error_curve):
    epsilons = np.array([1e-1, 1e-2, 1e-3])
    for theta in (np.array([[1.0]]), np.array([[1.0], [-2.0]])):
        with Swapped(error_curve, cost_function=_cube, gradient_function=_cube_gradient):
            result = error_curve(theta.copy(), epsilons)
        if not isinstance(result, tuple) or len(result) != 2:
            fail("error_curve should return a pair.", "(one_sided, two_sided)", type(result).__name__,
                  "the return statement.")
        # For f(θ) = Σ θ³ both quotients are exact polynomials in ε:
        # one-sided 3θ² + 3θε + ε², two-sided 3θ² + ε².
        grad = 3 * theta ** 2
        one = [_relative(grad, grad + 3 * theta * e + e ** 2) for e in epsilons]
        two = [_relative(grad, grad + e ** 2) for e in epsilons]
        where = f"f(θ) = Σ θ³ at θ = {theta.ravel().tolist()}, ε = 0.1, 0.01, 0.001"
        if not _close(result[1], two, rtol=1e-4):
            fail(f"the two-sided errors are wrong for {where}.", np.round(two, 12).tolist(), result[1],
                  "gradapprox[i] = (J(θ + ε e_i) − J(θ − ε e_i)) / (2ε) for every component i, then "
                  "relative_difference(grad, gradapprox).")
        if not _close(result[0], one, rtol=1e-4):
            fail(f"the one-sided errors are wrong for {where}.", np.round(one, 12).tolist(), result[0],
                  "gradapprox[i] = (J(θ + ε e_i) − J(θ)) / ε, with J(θ) the cost at θ itself.")
    passed("error_curve", "both curves for other costs, other θ (up to 47 parameters) and other ε")


@visible_test
def test_best_epsilon(best_epsilon):
    epsilons = np.array([1e-2, 1e-4, 1e-6, 1e-8])
    curves = (np.array([3e-3, 3e-5, 3e-7, 2e-8]), np.array([2e-5, 2e-9, 4e-11, 7e-9]))
    with Swapped(best_epsilon, error_curve=lambda theta, eps: curves):
        result = best_epsilon(np.array([[1.0]]), epsilons)
    if not isinstance(result, tuple) or len(result) != 2:
        fail("best_epsilon should return a pair.", "(best_one_sided, best_two_sided)",
              type(result).__name__, "the return statement.")
    if not _close(result, [1e-8, 1e-6], rtol=1e-12):
        fail("with one-sided errors [3e-3, 3e-5, 3e-7, 2e-8] and two-sided errors [2e-5, 2e-9, 4e-11, 7e-9] "
              "for ε = [1e-2, 1e-4, 1e-6, 1e-8], the best steps are wrong.", (1e-8, 1e-6), result,
              "the ε at which each curve is smallest (np.argmin), one-sided first.")
    passed("best_epsilon", "the two best steps for the error curves of other costs")


# ---- 2. Look at the components -----------------------------------------------------------------

CLASSIC_BUGS_BLOCKS = {"db1": 0.5999999993738333, "dW2": 0.33333333390072817}


@visible_test
def test_block_differences(block_differences):
    X, Y, parameters = gradient_check_n_test_case()
    _, cache = forward_propagation_n(X, Y, parameters)
    gradients = backward_propagation_n(X, Y, cache)
    with Swapped(block_differences, forward_propagation_n=forward_propagation_n):
        differences = block_differences(parameters, gradients, X, Y, 1e-5)
        if not isinstance(differences, dict) or sorted(differences) != sorted(
                ["dW1", "db1", "dW2", "db2", "dW3", "db3"]):
            fail("block_differences should return a dict with one entry per block.",
                  "keys dW1, db1, dW2, db2, dW3, db3", differences, "the keys of the dict you return.")
        high = {k: v for k, v in differences.items() if _number(v) is None or not _number(v) < 1e-7}
        if high:
            fail("with correct gradients on the classic test case (ε = 1e-5) every block should be below 1e-7.",
                  "all below 1e-7", high, "the two-sided difference of forward_propagation_n for each of the 47 "
                  "parameters, then relative_difference of each block's rows.")
        buggy = dict(gradients, dW2=gradients["dW2"] * 2, db1=gradients["db1"] * 4)
        differences = block_differences(parameters, buggy, X, Y, 1e-5)
    for key in ["dW1", "db1", "dW2", "db2", "dW3", "db3"]:
        got = _number(differences.get(key)) if isinstance(differences, dict) else None
        if key in CLASSIC_BUGS_BLOCKS:
            if got is None or not _close(got, CLASSIC_BUGS_BLOCKS[key], rtol=1e-5):
                fail(f"with dW2 doubled and db1 times 4, the difference of {key} is wrong.",
                      CLASSIC_BUGS_BLOCKS[key], differences.get(key),
                      "‖g − a‖ / (‖g‖ + ‖a‖) over this block's rows only: 2g against g gives 1/3, "
                      "4g against g gives 3/5.")
        elif got is None or not got < 1e-7:
            fail(f"with dW2 doubled and db1 times 4, {key} is right, so its difference should be tiny.",
                  "below 1e-7", differences.get(key),
                  "use only this block's rows of grad and gradapprox (the keys from dictionary_to_vector "
                  "name each row's block).")
    passed("block_differences", "each block's difference for other networks and other planted bugs")


@visible_test
def test_locate_bug(locate_bug):
    X, Y, parameters = gradient_check_n_test_case()
    small = {"dW1": 3e-10, "db1": 2e-10, "dW2": 5e-10, "db2": 4e-10, "dW3": 1e-10, "db3": 6e-10}
    cases = [
        ("only db2 disagrees", dict(small, db2=0.2), 1e-7, "db2"),
        ("dW2, db2, dW1 and db1 disagree (dW1 most)", dict(small, dW2=0.1, db2=0.2, dW1=0.9, db1=0.5), 1e-7, "dW2"),
        ("no block disagrees", small, 1e-7, None),
        ("every block is below threshold = 1e-9 except db3", dict(small, db3=3e-9, dW2=9e-10), 1e-9, "db3"),
    ]
    for label, differences, threshold, expected in cases:
        fake = lambda parameters, gradients, X, Y, epsilon=1e-6, d=differences: dict(d)
        with Swapped(locate_bug, forward_propagation_n=forward_propagation_n,
                      backward_propagation_n=backward_propagation_n, block_differences=fake):
            got = locate_bug(parameters, X, Y, 1e-6, threshold)
        if got != expected:
            fail(f"when block_differences says {label}, locate_bug names the wrong block.", repr(expected),
                  repr(got), "walk the blocks in the order backprop computes them (dW3, db3, dW2, db2, dW1, "
                  "db1) and return the first above the threshold, or None.")
    passed("locate_bug", "the block it names for several backward passes with hidden bugs, and for a "
            "correct one")


# ---- 3. Not with dropout -----------------------------------------------------------------------

class _NewMasks:
    """forward_with_dropout that draws reproducible new masks in every pass that gets none."""

    def __init__(self):
        self.draws = 0

    def __call__(self, X, Y, parameters, keep_prob, masks=None):
        if masks is None:
            rng = np.random.default_rng(1000 + self.draws)
            self.draws += 1
            masks = ((rng.random((5, X.shape[1])) < keep_prob).astype(np.float64),
                     (rng.random((3, X.shape[1])) < keep_prob).astype(np.float64))
        return forward_with_dropout(X, Y, parameters, keep_prob, masks)


DROPOUT_NO_RESCALE = 0.24569790038768682


@visible_test
def test_dropout_gradient_check(dropout_gradient_check):
    X, Y, parameters = training_data(2, m=4, scale=0.5)
    forward = _NewMasks()
    with Swapped(dropout_gradient_check, forward_with_dropout=forward, backward_with_dropout=backward_with_dropout):
        difference = dropout_gradient_check(parameters, X, Y, 0.7, 1e-5)
    if _number(difference) is None or not _number(difference) < 1e-7:
        look = ("the masks: draw them once, with the first forward pass, and give masks = (cache['D1'], "
                "cache['D2']) to every nudged forward pass." if forward.draws > 1 else
                "gradapprox from the nudged forward passes and grad from backward_with_dropout.")
        fail(f"with a correct backward pass the check should pass (keep_prob = 0.7, ε = 1e-5); "
              f"your check drew masks {forward.draws} times.", "below 1e-7", difference, look)
    forward = _NewMasks()
    no_rescale = lambda X, Y, cache, keep_prob: backward_with_dropout(X, Y, cache, 1.0)
    with Swapped(dropout_gradient_check, forward_with_dropout=forward, backward_with_dropout=no_rescale):
        difference = dropout_gradient_check(parameters, X, Y, 0.7, 1e-5)
    if not _close(difference, DROPOUT_NO_RESCALE, rtol=1e-4):
        fail("with a backward pass that forgets the 1 / keep_prob of inverted dropout, the difference "
              "is wrong.", DROPOUT_NO_RESCALE, difference,
              "compare backward_with_dropout(X, Y, cache, keep_prob) for the first pass's cache with "
              "gradapprox computed with the same masks.")
    passed("dropout_gradient_check", "the difference for other networks, other keep_prob and another "
            "backward pass with a bug, with a forward pass that draws new masks whenever it gets none")


# ---- 4. At initialisation and after some training ----------------------------------------------

TRAINED_W3 = {"correct": [1.7564380592113473, 0.9287612190531581, -0.6342377009373313],
              "clipped": [1.7664416831166816, 0.9504859513517626, -0.6274526707350198]}


@visible_test
def test_check_during_training(check_during_training):
    for name, backward in (("correct", backward_propagation_n), ("clipped", backward_propagation_n_clipped)):
        X, Y, parameters = training_data(4)
        with Swapped(check_during_training, forward_propagation_n=forward_propagation_n,
                      backward_propagation_n=backward, gradient_check_n=gradient_check_n):
            result = check_during_training(parameters, X, Y, 0.3, 60, 20, 1e-5)
        if not isinstance(result, tuple) or len(result) != 2:
            fail("check_during_training should return a pair.", "(differences, parameters)",
                  type(result).__name__, "the return statement.")
        differences, trained = result
        label = f"60 iterations at learning rate 0.3 with a check every 20, {name} backward pass"
        if len(differences) != 3:
            fail(f"{label}: the number of checks is wrong.", "3 (iterations 0, 20, 40)", len(differences),
                  "check when i % check_every == 0, for i in range(num_iterations).")
        W3 = trained.get("W3") if isinstance(trained, dict) else None
        if not _close(W3, TRAINED_W3[name], rtol=1e-7):
            fail(f"{label}: W3 after training is wrong.", TRAINED_W3[name], W3,
                  "each iteration: forward, backward, then θ ← θ − learning_rate · dθ for all six blocks.")
        values = [_number(d) for d in differences]
        expected = "all three below 1e-7" if name == "correct" else "the first two below 1e-7, the last above 1e-2"
        ok = all(v is not None and v < 1e-7 for v in values) if name == "correct" else (
            all(v is not None for v in values) and values[0] < 1e-7 and values[1] < 1e-7 and values[2] > 1e-2)
        if not ok:
            fail(f"{label}: the differences are wrong.", expected, differences,
                  "gradient_check_n(parameters, gradients, X, Y, epsilon) with the parameters before "
                  "that iteration's update and their gradients.")
    passed("check_during_training", "the differences and the trained parameters for other data, other "
            "schedules and a backward pass whose bug shows only after training")


# ---- 5. Not in training ------------------------------------------------------------------------

@visible_test
def test_forward_passes_per_check(forward_passes_per_check):
    for dims, expected in (([4, 5, 3, 1], 94), ([2, 1], 6), ([3, 4, 2], 52)):
        got = forward_passes_per_check(list(dims))
        if _number(got) != expected:
            fail(f"forward_passes_per_check({dims}) is wrong.", expected, got,
                  "N = Σ (n_l × n_(l−1) + n_l) weights and biases over the layers; the check needs two "
                  "forward passes for each.")
    passed("forward_passes_per_check", "the count for other layer sizes")
