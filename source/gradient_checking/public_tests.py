"""Visible tests for the gradient-checking assignment.

Run them as often as you like. Each one checks values on a few fixed cases and, when something
is off, tells you what it expected, what your function returned and where to look next.
Passing them is necessary, not sufficient: hidden tests grade every exercise on other cases.
"""
import contextlib
import io

import numpy as np

import checker_probes as probes
from gc_utils import gradient_check_n_test_case
from visible_test_helpers import VisibleTestFailure, Swapped, call, difference, fail, passed, quietly  # noqa: F401

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


def _not_run(exercise, failing, namespace):
    """Fail the cell: these tests could not judge the exercise. When the notebook carries the
    hidden tests (autograding: an earlier test cell imported hidden_check), print instead and
    leave the verdict to them, which use correct versions of what the exercise needs."""
    verb = "does" if len(failing) == 1 else "do"
    failure = VisibleTestFailure(
        f"The visible tests of {exercise} did not run: it needs {', '.join(failing)}, which {verb} not pass "
        f"{'its' if len(failing) == 1 else 'their'} own visible tests yet. Fix that first. (The hidden tests "
        f"grade {exercise} with correct versions of the functions it needs.)")
    if "hidden_check" in namespace:
        print(failure)
        return
    raise failure


def _relative(grad, gradapprox, squared=False, denominator=True):
    grad, gradapprox = np.ravel(grad), np.ravel(gradapprox)
    if squared:
        return np.sum((grad - gradapprox) ** 2) / (np.sum(grad ** 2) + np.sum(gradapprox ** 2))
    if not denominator:
        return np.linalg.norm(grad - gradapprox)
    return np.linalg.norm(grad - gradapprox) / (np.linalg.norm(grad) + np.linalg.norm(gradapprox))


def _checker_hint(got, J_plus, J_minus, J, grad, epsilon):
    """The one known checker mistake that gives `got` (and no other does), else None."""
    two_sided = (J_plus - J_minus) / (2 * epsilon)
    mistakes = {
        "a one-sided difference: use the two-sided (J(θ+ε) − J(θ−ε)) / (2ε)": _relative(grad, (J_plus - J) / epsilon),
        "+ instead of − in the numerator: J(θ+ε) − J(θ−ε)": _relative(grad, (J_plus + J_minus) / (2 * epsilon)),
        "dividing by ε instead of 2ε: the two points are 2ε apart": _relative(grad, (J_plus - J_minus) / epsilon),
        "squared norms: use the plain 2-norms (np.linalg.norm)": _relative(grad, two_sided, squared=True),
        "no denominator: divide by ‖grad‖ + ‖gradapprox‖": _relative(grad, two_sided, denominator=False),
    }
    values = list(mistakes.values()) + [1.0, _relative(grad, two_sided)]
    found = [hint for hint, value in mistakes.items() if np.isclose(got, value, rtol=1e-4)
             and sum(np.isclose(value, v, rtol=1e-4) for v in values) == 1]
    if len(found) == 1:
        return "it looks like " + found[0]
    if np.isclose(got, 1.0, rtol=1e-4):
        return ("a difference of about 1 means gradapprox is about 0 or far larger than grad: J_plus and "
                "J_minus at θ+ε and θ−ε, a minus between them, and parentheses: (J_plus − J_minus) / (2ε)")
    return None


def _probed(probe):
    """What probing the checker one part at a time shows (checker_probes), or None."""
    with quietly():
        try:
            return probes.hint(probes.diagnose(probe))
        except Exception:  # noqa: BLE001 (a checker that breaks on a probe: say nothing more)
            return None


def _probe_call(checker, args, **stand_ins):
    def run():
        with Swapped(checker, **stand_ins):
            try:
                return float(np.squeeze(checker(*args)))
            except Exception:  # noqa: BLE001 (the failing call is the verdict; this one only probes)
                return None
    return run


def _probe_1d(gradient_check):
    """gradient_check, ready to be probed on J = x·θ²/2 (checker_probes)."""
    x, theta, eps = probes.PROBE_X, probes.PROBE_THETA, probes.PROBE_EPSILON

    def call(grad, flat):
        with probes.answering(float(np.ravel(grad)[0])):
            return _probe_call(gradient_check, (x, theta, eps), forward_propagation=probes.quadratic_1d,
                               backward_propagation=probes.answering_backward)()

    return probes.Probe(np.array([theta]), eps, lambda t: x * float(np.ravel(t)[0]) ** 2 / 2, np.array([x * theta]),
                        call, grad_point="backward")


def _flatten(blocks, prefix=""):
    return np.concatenate([np.reshape(blocks[prefix + k], (-1, 1)) for k in ORDER]).astype(np.float64)


def _unflatten(theta):
    flat, blocks, start = np.asarray(theta, dtype=np.float64).reshape(-1), {}, 0
    for key in ORDER:
        size = SHAPES[key][0] * SHAPES[key][1]
        blocks[key] = flat[start:start + size].reshape(SHAPES[key]).copy()
        start += size
    return blocks


def _recording_cost(X, Y, parameters):
    theta = _flatten(parameters)
    probes.record(theta)
    return probes.quadratic_cost(theta), None


def _flat_cost(X, Y, parameters):
    theta = _flatten(parameters)
    return probes.linear_cost(np.full(theta.shape, probes.FLAT_SLOPE), theta), None


def _recording_gradients_to_vector(gradients):
    probes.record_call("gradients_to_vector")
    return _flatten(gradients, "d")


def _probe_n(gradient_check_n, X, Y):
    """gradient_check_n, ready to be probed on checker_probes' quadratic cost of the 47 parameters."""
    theta, eps = probes.probe_point(47), probes.PROBE_EPSILON
    keys = [k for k in ORDER for _ in range(SHAPES[k][0] * SHAPES[k][1])]

    def call(grad, flat):
        gradients = {"d" + k: v for k, v in _unflatten(grad).items()}
        return _probe_call(gradient_check_n, (_unflatten(theta), gradients, X, Y, eps),
                           forward_propagation_n=_flat_cost if flat else _recording_cost,
                           gradients_to_vector=_recording_gradients_to_vector,
                           dictionary_to_vector=lambda p: (_flatten(p), list(keys)),
                           vector_to_dictionary=_unflatten)()

    return probes.Probe(theta, eps, probes.quadratic_cost, probes.probe_weights(47) + theta, call,
                        grad_builder="gradients_to_vector")


def _as_number(difference, exercise):
    try:
        return float(np.squeeze(difference))
    except (TypeError, ValueError):
        fail(f"{exercise} should return one number.", "a float", type(difference).__name__,
             "return the relative difference, not gradapprox or grad.")


# ---- 1-D --------------------------------------------------------------------------------------

ONE_D_CASES = [(2, 4), (-3.0, 0.5), (0.25, -8.0), (np.array([1.0, -2.0, 3.5]), 0.5)]


def test_forward_propagation(forward_propagation):
    for x, theta in ONE_D_CASES:
        J = call(forward_propagation, x, theta)
        wrong = difference(J, x * theta)
        if wrong:
            fail(f"forward_propagation({x!r}, {theta}) is wrong: {wrong}.", x * theta, J,
                 "J is the linear function theta * x, for a number x and for an array x alike.")
    passed("forward_propagation", "J = theta * x on other numbers and arrays")


def test_backward_propagation(backward_propagation):
    for x, theta in ONE_D_CASES:
        dtheta = call(backward_propagation, x, theta)
        wrong = difference(dtheta, x)
        if wrong:
            fail(f"backward_propagation({x!r}, {theta}) is wrong: {wrong}.", x, dtheta,
                 "the derivative of J = theta * x with respect to theta.")
    passed("backward_propagation", "dJ/dtheta on other numbers and arrays")


def _check_1d(gradient_check, forward, backward, x, theta, epsilon):
    with Swapped(gradient_check, forward_propagation=forward, backward_propagation=backward):
        got = _as_number(call(gradient_check, x, theta, epsilon), "gradient_check")
    J_plus, J_minus, J = forward(x, theta + epsilon), forward(x, theta - epsilon), forward(x, theta)
    grad = backward(x, theta)
    return got, _relative(grad, (J_plus - J_minus) / (2 * epsilon)), _checker_hint(got, J_plus, J_minus, J, grad, epsilon)


def test_gradient_check(gradient_check):
    # Stand-ins for your forward/backward_propagation: this tests gradient_check alone.
    linear, linear_grad = (lambda x, theta: theta * x), (lambda x, theta: x)
    cube, cube_grad = (lambda x, theta: x * theta ** 3), (lambda x, theta: 3 * x * theta ** 2)
    # With J = x * theta**3 the two-sided difference at epsilon = 0.01 is 3.0001 against the true
    # 3, so the difference is 0.0001 / 6.0001.
    got, expected, hint = _check_1d(gradient_check, cube, cube_grad, 1.0, 1.0, 0.01)
    if not np.isclose(got, expected, rtol=1e-4):
        other, _, _ = _check_1d(gradient_check, linear, linear_grad, 1.0, 1.0, 0.01)
        if np.isclose(got, other, rtol=1e-9, atol=1e-15) and not np.isclose(got, 1.0, rtol=1e-4):
            hint = ("gradient_check returns the same with J = x * theta**3 as with J = theta * x: it must call "
                    "forward_propagation and backward_propagation, not compute J or dtheta itself")
        probed = None if hint and hint.startswith("gradient_check returns the same") else _probed(
            _probe_1d(gradient_check))
        fail("with J = x * theta**3 at x = 1, theta = 1, epsilon = 0.01, the difference is wrong.",
             f"{expected:.6g}", got, (probed and f"it looks like {probed}") or hint or "gradapprox = (J(θ+ε) − "
             "J(θ−ε)) / (2ε), grad = backward_propagation(x, theta), then ‖grad − gradapprox‖ / (‖grad‖ + ‖gradapprox‖).")
    got, _, hint = _check_1d(gradient_check, linear, linear_grad, 2, 4, 1e-7)
    if not 0 < got < 1e-7:
        probed = _probed(_probe_1d(gradient_check))
        hint = f"it looks like {probed}" if probed else hint
        fail("gradient_check(2, 4) should be tiny but not zero: the two-sided difference of "
             "J = 4 * 2 carries a little rounding error.", "between 0 and 1e-7", got,
             hint or "gradapprox from forward_propagation at theta + epsilon and theta - epsilon, "
             "and grad from backward_propagation.")
    passed("gradient_check", "the difference it returns on non-linear costs and on wrong "
           "gradients, against a reference checker, and that print_msg=True leaves it unchanged (what "
           "print_msg prints is not graded)")


# ---- conversions ------------------------------------------------------------------------------

def _numbered(prefix=""):
    """Blocks filled with 0, 1, 2, ... in the order W1, b1, W2, b2, W3, b3."""
    blocks, start = {}, 0
    for key in ORDER:
        size = SHAPES[key][0] * SHAPES[key][1]
        blocks[prefix + key] = np.arange(start, start + size, dtype=np.float64).reshape(SHAPES[key])
        start += size
    return blocks


def _column_major(prefix=""):
    """What flattening every block column by column (order="F", or a transpose) gives."""
    return np.concatenate([b.reshape(-1, 1, order="F") for b in _numbered(prefix).values()])


def _vector_hint(vector, prefix=""):
    if _close(vector, _column_major(prefix), atol=0):
        return "each block is flattened column by column (order=\"F\", or a transpose): np.reshape(block, (-1, 1)) goes row by row."
    return f"the order {', '.join(prefix + k for k in ORDER)} and np.reshape(block, (-1, 1)) of each block."


KEYS = [key for key in ORDER for _ in range(SHAPES[key][0] * SHAPES[key][1])]


def test_dictionary_to_vector(dictionary_to_vector):
    numbered = _numbered()
    result = call(dictionary_to_vector, {k: numbered[k] for k in ("b3", "W2", "b1", "W3", "W1", "b2")})
    if not isinstance(result, tuple) or len(result) != 2:
        fail("dictionary_to_vector should return a pair.", "(theta, keys)", type(result).__name__,
             "the return statement.")
    theta, keys = result
    expected = np.arange(47, dtype=np.float64).reshape(47, 1)
    wrong = difference(theta, expected)
    if wrong:
        fail(f"with W1 = 0..19, b1 = 20..24, W2 = 25..39, ... (given in another order: b3, W2, b1, ...) theta "
             f"should count 0..46 in order: {wrong}.",
             "a (47, 1) column 0, 1, ..., 46", f"shape {np.shape(theta)}", _vector_hint(theta))
    if not isinstance(keys, (list, tuple)) or list(keys) != KEYS:
        listed = list(keys) if isinstance(keys, (list, tuple)) else []
        row = next((i for i, k in enumerate(listed[:47]) if k != KEYS[i]), min(len(listed), 47))
        fail(f"keys should name, for each of the 47 rows of theta, the block it came from; the first "
             f"wrong row is {row}.", "['W1'] * 20 + ['b1'] * 5 + ['W2'] * 15 + ['b2'] * 3 + ['W3'] * 3 + ['b3']",
             f"a list of {len(listed)}, row {row}: {listed[row]!r}" if row < len(listed) else repr(keys)[:80],
             "keys = keys + [key] * column.shape[0] for each block.")
    passed("dictionary_to_vector", "theta and keys for random parameters")


def test_vector_to_dictionary(vector_to_dictionary):
    parameters = call(vector_to_dictionary, np.arange(47, dtype=np.float64).reshape(47, 1))
    if not isinstance(parameters, dict):
        fail("vector_to_dictionary should return a dict.", "{'W1': ..., 'b1': ..., ...}", type(parameters).__name__,
             "the return statement.")
    for key, want in _numbered().items():
        got = parameters.get(key)
        wrong = difference(got, want)
        if wrong:
            look = f"the slice of theta for {key} and its reshape to {SHAPES[key]}."
            if _close(got, want.reshape(-1).reshape(SHAPES[key], order="F"), atol=0):
                look = (f"{key} is filled column by column (order=\"F\", or a reshape to {SHAPES[key][::-1]} and a "
                        f"transpose): reshape to {SHAPES[key]} fills it row by row.")
            fail(f"{key} is wrong for theta = 0..46: {wrong}.", want.tolist(), got, look)
    passed("vector_to_dictionary", "every block for random theta")


def test_gradients_to_vector(gradients_to_vector):
    numbered = _numbered("d")
    # backward_propagation_n returns extra entries too, in its own order
    gradients = {"dZ1": np.full((5, 3), -1.0), **{k: numbered[k] for k in ("db3", "dW3", "db2", "dW2", "db1", "dW1")}}
    theta = call(gradients_to_vector, gradients)
    wrong = difference(theta, np.arange(47, dtype=np.float64).reshape(47, 1))
    if wrong:
        fail(f"with dW1 = 0..19, db1 = 20..24, ... the vector should count 0..46 in order: {wrong}.",
             "a (47, 1) column 0, 1, ..., 46", f"shape {np.shape(theta)}",
             "take only dW1, db1, dW2, db2, dW3, db3; " + _vector_hint(theta, "d"))
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
    result = call(forward_propagation_n, X, Y, parameters)
    if not isinstance(result, tuple) or len(result) != 2:
        fail("forward_propagation_n should return a pair.", "(cost, cache)", type(result).__name__,
             "the return statement.")
    cost, cache = result
    if not isinstance(cache, (tuple, list)) or len(cache) != 12:
        fail("the cache has the wrong length.", "(Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)",
             f"{len(cache) if isinstance(cache, (tuple, list)) else type(cache).__name__} entries",
             "the order and number of entries of the cache.")
    wrong = difference(cache[9], CLASSIC_A3)
    if wrong:
        fail(f"A3 (cache[9]) is wrong on the classic test case: {wrong}.", CLASSIC_A3.tolist(), cache[9],
             "LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID, and the cache order.")
    if not _close(np.squeeze(cost), CLASSIC_COST, rtol=1e-9):
        look = "the mean over the m examples of −(Y log A3 + (1 − Y) log(1 − A3))."
        if _close(np.squeeze(cost), CLASSIC_COST * X.shape[1], rtol=1e-9):
            look = "it is m times too large: divide the sum by m, the number of examples."
        elif _close(np.squeeze(cost), -CLASSIC_COST, rtol=1e-9):
            look = "the sign: cross-entropy is −(Y log A3 + (1 − Y) log(1 − A3))."
        fail("the cost is wrong on the classic test case.", CLASSIC_COST, cost, look)
    passed("forward_propagation_n", "the cost and every cache entry on other inputs and "
           "other numbers of examples")


def test_backward_propagation_n(backward_propagation_n, forward_propagation_n):
    failing = _failing({"forward_propagation_n": forward_propagation_n}, "forward_propagation_n")
    if failing:
        return _not_run("backward_propagation_n", failing, getattr(backward_propagation_n, "__globals__", {}))
    X, Y, parameters = gradient_check_n_test_case()
    _, cache = call(forward_propagation_n, X, Y, parameters)
    gradients = call(backward_propagation_n, X, Y, cache)
    if not isinstance(gradients, dict):
        fail("backward_propagation_n should return a dict.", "{'dW1': ..., 'db1': ..., ...}",
             type(gradients).__name__, "the return statement.")
    for key, want in CLASSIC_GRADIENTS.items():
        want = np.array(want)
        if key not in gradients:
            fail(f"the gradients have no {key}.", f"a {key} of shape {want.shape}", sorted(gradients), "the dict returned.")
        if np.shape(gradients[key]) != want.shape:
            look = f"the line that computes {key}."
            if key.startswith("db"):
                look = f"np.sum(..., axis=1, keepdims=True) keeps {key} a column of shape {want.shape}."
            fail(f"{key} has the wrong shape.", want.shape, np.shape(gradients[key]), look)
    wrong = [key for key, want in CLASSIC_GRADIENTS.items()
             if not _close(gradients[key], np.array(want), rtol=1e-8, atol=1e-11)]
    if wrong:
        first = wrong[0]
        fail(f"these gradients are wrong on the classic test case: {', '.join(wrong)} "
             f"(the others agree). {first}: {difference(gradients[first], np.array(CLASSIC_GRADIENTS[first]))}.",
             np.array(CLASSIC_GRADIENTS[first]).tolist(), gradients[first],
             f"the lines that compute {first}: a stray factor, a missing 1/m, a missing relu mask, or a transpose.")
    passed("backward_propagation_n", "a central-difference gradient check below 1e-7 on other "
           "inputs, other numbers of examples and other random draws, and that the gradients are derived "
           "(not computed numerically)")


def _costs(namespace, X, Y, parameters, epsilon):
    """J(θ), and J(θ ± ε e_i) for every i, from the functions the checker itself uses."""
    theta = np.concatenate([parameters[k].reshape(-1, 1) for k in ORDER])
    cost = lambda t: float(np.squeeze(namespace["forward_propagation_n"](X, Y, namespace["vector_to_dictionary"](t))[0]))
    J_plus, J_minus = np.zeros((47, 1)), np.zeros((47, 1))
    for i in range(47):
        step = np.zeros((47, 1))
        step[i] = epsilon
        J_plus[i], J_minus[i] = cost(theta + step), cost(theta - step)
    return cost(theta), J_plus, J_minus


def test_gradient_check_n(gradient_check_n, forward_propagation_n=None, backward_propagation_n=None):
    namespace = gradient_check_n.__globals__
    failing = _failing(namespace, "dictionary_to_vector", "vector_to_dictionary",
                       "gradients_to_vector", "forward_propagation_n")
    if failing:
        return _not_run("gradient_check_n", failing, namespace)
    X, Y, parameters = gradient_check_n_test_case()
    correct = {k: np.array(v) for k, v in CLASSIC_GRADIENTS.items()}
    buggy = dict(correct, dW2=correct["dW2"] * 2, db1=correct["db1"] * 4)
    got = _as_number(call(gradient_check_n, {k: v.copy() for k, v in parameters.items()}, buggy, X, Y, 1e-5),
                     "gradient_check_n")
    if not np.isclose(got, 0.285093149, rtol=1e-4):
        with quietly():
            J, J_plus, J_minus = _costs(namespace, X, Y, parameters, 1e-5)
        grad = np.concatenate([buggy["d" + k].reshape(-1, 1) for k in ORDER])
        probed = _probed(_probe_n(gradient_check_n, X, Y))
        fail("with the classic bugs (dW2 doubled, db1 times 4) and epsilon = 1e-5 the difference "
             "is wrong.", 0.285093149, got, (probed and f"it looks like {probed}")
             or _checker_hint(got, J_plus, J_minus, J, grad, 1e-5)
             or "copy theta before each nudge, (J_plus − J_minus) / (2 epsilon), and the 2-norms.")
    got = _as_number(call(gradient_check_n, {k: v.copy() for k, v in parameters.items()}, correct, X, Y, 1e-5),
                     "gradient_check_n")
    if not got < 1e-7:
        with quietly():
            J, J_plus, J_minus = _costs(namespace, X, Y, parameters, 1e-5)
        grad = np.concatenate([correct["d" + k].reshape(-1, 1) for k in ORDER])
        probed = _probed(_probe_n(gradient_check_n, X, Y))
        fail("with correct gradients and epsilon = 1e-5 the difference should be below 1e-7.",
             "< 1e-7", got, (probed and f"it looks like {probed}") or _checker_hint(got, J_plus, J_minus, J, grad, 1e-5)
             or "gradapprox for each of the 47 parameters.")
    passed("gradient_check_n", "the difference it returns on other networks, smooth non-linear "
           "costs and wrong gradients, against a reference checker, and that print_msg=True leaves it "
           "unchanged (what print_msg prints is not graded)")
