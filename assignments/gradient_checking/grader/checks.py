"""The hidden checks of gradient_checking: one function per exercise, judging a student's function
through a Subject (trusted side).

The same checks run in the notebook's hidden test cells (for students' and plain nbgrader's
sake) and in the trusted judge, which is what the grade comes from. A check returns what it
measured; it never trusts anything from the Subject but plain numbers and arrays.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from autograder.grading.compare import (VALUE_ATOL, VALUE_RTOL, as_array, as_float, checker_failure,
                                        off_by, same_values)
from autograder.grading.mistakes import recognise
from autograder.grading.results import Failed
from autograder.grading.secret import hidden_rng
from autograder.grading.subject import Subject
from autograder.grading.tolerances import THRESHOLD, Tolerances

from . import cases
from . import dependencies
from . import reference

# A checker's result against the reference checker at the same step: a different but correct
# order of operations moves it by far less than 1e-4 relative, any mistake in the formula by more.
CHECKER_RTOL, CHECKER_ATOL = 1e-4, 1e-13

REFERENCE_DEPS_N = {
    "dictionary_to_vector": "reference.dictionary_to_vector",
    "vector_to_dictionary": "reference.vector_to_dictionary",
    "gradients_to_vector": "reference.gradients_to_vector",
}


# ---- 1-D model -----------------------------------------------------------------------------

# (x, theta, how the feedback names the case): the first is the notebook's own example.
ONE_D_CASES = [(2.0, 4.0, "x=2, theta=4"), (-3.5, 0.25, "a hidden case with negative x"),
               (1e3, -2e-3, "a hidden case with large x and negative theta"), (0.0, 7.0, "a hidden case with x=0"),
               (0.7, -1.5, "a hidden case with negative theta"),
               (np.array([1.0, -2.0, 3.5]), 0.5, "a hidden case where x is an array")]


def check_forward_propagation(subject: Subject, tol: Tolerances) -> dict:
    for x, theta, label in ONE_D_CASES:
        got = subject.call("forward_propagation", (x, theta))
        same_values(got, reference.forward_propagation(x, theta), f"J for {label}", public=label.startswith("x="))
    return {}


def check_backward_propagation(subject: Subject, tol: Tolerances) -> dict:
    for x, theta, label in ONE_D_CASES:
        got = subject.call("backward_propagation", (x, theta))
        same_values(got, reference.backward_propagation(x, theta), f"dtheta for {label}", public=label.startswith("x="))
    return {}


# (label, x, theta, epsilon, deps, public): linear J at the classic point, then a cubic J whose
# two-sided and one-sided differences disagree, then a backward pass with a known error.
GRADIENT_CHECK_CASES = [
    ("J = theta * x at x=2, theta=4", 2.0, 4.0, 1e-7, ("reference.forward_propagation", "reference.backward_propagation"), True),
    ("J = x * theta^3 at x=1, theta=1", 1.0, 1.0, 1e-2, ("cubic.forward", "cubic.backward"), True),
    ("a hidden non-linear J at a negative theta", 0.7, -1.5, 1e-3, ("cubic.forward", "cubic.backward"), False),
    ("a hidden non-linear J with a wrong dtheta", 1.0, 1.0, 1e-2, ("cubic.forward", "cubic.backward_doubled"), False),
]


def check_gradient_check(subject: Subject, tol: Tolerances) -> dict:
    measured = {}
    for label, x, theta, eps, (fwd, bwd), public in GRADIENT_CHECK_CASES:
        deps = {"forward_propagation": fwd, "backward_propagation": bwd}
        forward, backward = dependencies.resolve(fwd), dependencies.resolve(bwd)
        expected = reference.gradient_check(x, theta, eps, forward=forward, backward=backward)
        got = as_float(subject.call("gradient_check", (x, theta, eps), deps), f"the difference for {label}")
        measured[label] = expected
        if not np.isclose(got, expected, rtol=CHECKER_RTOL, atol=CHECKER_ATOL):
            hint = recognise(got, expected, lambda t: forward(x, float(t.ravel()[0])),
                             np.array([backward(x, theta)]), np.array([theta]), eps,
                             mistakes=("one_sided", "plus_for_minus", "eps_not_2eps", "squared_norms", "no_denominator"))
            raise checker_failure(label, eps, got, expected, public, hint,
                                  "Check gradapprox = (J(θ+ε) − J(θ−ε)) / (2ε) and the relative norm.")
    return measured


# ---- conversions between dictionaries and vectors -----------------------------------------

def random_parameters(seed: int) -> dict:
    rng = hidden_rng("gradient_checking", "parameters", seed)
    return {k: rng.standard_normal(reference.PARAM_SHAPES[k]) for k in reference.PARAM_KEYS}


def locate_blocks(got: np.ndarray, parameters: dict, prefix: str = "") -> str:
    """Say which blocks sit where they should, to explain a wrongly ordered vector."""
    flat, notes = got.ravel(), []
    for key, where in reference.BLOCK_SLICES.items():
        want = parameters[prefix + key]
        chunk = flat[where]
        if chunk.size == want.size and np.allclose(chunk, want.reshape(-1)):
            pass
        elif chunk.size == want.size and np.allclose(chunk, want.reshape(-1, order="F")):
            notes.append(f"{prefix + key} is flattened column by column; use reshape(-1, 1)")
        else:
            notes.append(f"rows {where.start}-{where.stop - 1} should hold {prefix + key}")
    order = ", ".join(prefix + k for k in reference.PARAM_KEYS)
    return "; ".join(notes) + f" (order: {order})" if notes else ""


def check_dictionary_to_vector(subject: Subject, tol: Tolerances) -> dict:
    for seed in (7, 8):
        parameters = random_parameters(seed)
        got = subject.call("dictionary_to_vector", ({k: v.copy() for k, v in parameters.items()},))
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Failed("dictionary_to_vector should return a pair (theta, keys)")
        theta = as_array(got[0], "theta")
        expected, _ = reference.dictionary_to_vector(parameters)
        if theta.shape == expected.shape and not np.allclose(theta, expected, rtol=VALUE_RTOL, atol=VALUE_ATOL):
            raise Failed("theta is in the wrong order: " + locate_blocks(theta, parameters))
        same_values(theta, expected, "theta", public=False)
    return {}


def check_vector_to_dictionary(subject: Subject, tol: Tolerances) -> dict:
    for seed in (9, 10):
        theta = hidden_rng("gradient_checking", "theta", seed).standard_normal((reference.N_PARAMS, 1))
        got = subject.call("vector_to_dictionary", (theta.copy(),))
        if not isinstance(got, dict):
            raise Failed("vector_to_dictionary should return a dict of parameters")
        expected = reference.vector_to_dictionary(theta)
        for key, want in expected.items():
            if key not in got:
                raise Failed(f"the dict has no key {key!r} (keys: {', '.join(map(repr, got))})")
            same_values(got[key], want, key, public=False)
    return {}


def check_gradients_to_vector(subject: Subject, tol: Tolerances) -> dict:
    for seed in (11, 12):
        rng = hidden_rng("gradient_checking", "gradients", seed)
        gradients = {"d" + k: rng.standard_normal(s) for k, s in reference.PARAM_SHAPES.items()}
        # Extra entries as backward_propagation_n returns them, in an unhelpful order.
        extras = {"dZ3": rng.standard_normal((1, 3)), "dA2": rng.standard_normal((3, 3)),
                  "dZ1": rng.standard_normal((5, 3)), "dA1": rng.standard_normal((5, 3))}
        mixed = dict(sorted({**gradients, **extras}.items(), key=lambda kv: kv[0][::-1]))
        got = as_array(subject.call("gradients_to_vector", (mixed,)), "the gradient vector")
        expected = reference.gradients_to_vector(gradients)
        if got.shape == expected.shape and not np.allclose(got, expected):
            raise Failed("the gradient vector is in the wrong order: " + locate_blocks(got, gradients, "d"))
        same_values(got, expected, "the gradient vector", public=False)
    return {}


# ---- the network ---------------------------------------------------------------------------

CACHE_NAMES = ("Z1", "A1", "W1", "b1", "Z2", "A2", "W2", "b2", "Z3", "A3", "W3", "b3")


def check_forward_propagation_n(subject: Subject, tol: Tolerances) -> dict:
    for case in cases.network_cases(tol):
        got = subject.call("forward_propagation_n", (case.X.copy(), case.Y.copy(), case.copy_parameters()))
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Failed("forward_propagation_n should return a pair (cost, cache)")
        cost, cache = got
        expected_cost, expected_cache = reference.forward_propagation_n(case.X, case.Y, case.parameters)
        if not isinstance(cache, (tuple, list)) or len(cache) != 12:
            raise Failed("cache should be the 12-tuple (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)")
        for name, got_entry, want in zip(CACHE_NAMES, cache, expected_cache):
            same_values(got_entry, want, f"{name} in the cache (on {case.name})", public=case.public)
        got_cost = as_float(cost, "the cost")
        if not np.isclose(got_cost, expected_cost, rtol=VALUE_RTOL, atol=VALUE_ATOL):
            m = case.X.shape[1]
            hint = ""
            if np.isclose(got_cost * m, expected_cost):
                hint = " It looks like the sum is not divided by m (the number of examples)."
            elif np.isclose(-got_cost, expected_cost):
                hint = " The sign is flipped: cross-entropy is −(Y log A3 + (1−Y) log(1−A3))."
            value = (f"is {got_cost:.10g}, expected {expected_cost:.10g}" if case.public
                     else f"is wrong: {off_by(got_cost, expected_cost)}")
            raise Failed(f"the cost on {case.name} {value}.{hint}")
    return {}


def localise(grad: np.ndarray, approx: np.ndarray, threshold: float = THRESHOLD, public: bool = True) -> str:
    """Which parameter blocks disagree with the numerical gradient, and the worst component."""
    blocks = reference.block_differences(grad, approx)
    bad = {k: v for k, v in blocks.items() if v >= threshold}
    good = [k for k in blocks if k not in bad]
    parts = [f"{k}: relative difference {v:.2g}" for k, v in sorted(bad.items(), key=lambda kv: -kv[1])]
    text = "; ".join(parts)
    if good:
        text += " — " + ", ".join(good) + " agree"
    worst = int(np.argmax(np.abs(grad - approx).ravel()))
    key, where = next((k, w) for k, w in reference.BLOCK_SLICES.items() if worst < w.stop)
    r, c = divmod(worst - where.start, reference.PARAM_SHAPES[key][1])
    block = f"d{key}[{r}, {c}]"
    if public:
        text += f". Worst component {block}: yours {grad.ravel()[worst]:.6g}, numerical {approx.ravel()[worst]:.6g}"
    else:
        text += f". Worst component {block}: {off_by(grad.ravel()[worst], approx.ravel()[worst])}"
    ratios = {}
    for key, where in reference.BLOCK_SLICES.items():
        g, a = grad.ravel()[where], approx.ravel()[where]
        if "d" + key in bad and np.dot(a, a) > 0:
            ratio = float(np.dot(g, a) / np.dot(a, a))
            if round(ratio) not in (0, 1) and np.allclose(g, round(ratio) * a, rtol=1e-5, atol=1e-9):
                ratios["d" + key] = int(round(ratio))
    for key, ratio in ratios.items():
        text += f". {key} is exactly {ratio} × the numerical gradient: look for a stray factor"
    return text


def check_backward_propagation_n(subject: Subject, tol: Tolerances) -> dict:
    measured = {}
    for case in cases.network_cases(tol):
        _, cache = reference.forward_propagation_n(case.X, case.Y, case.parameters)
        got = subject.call("backward_propagation_n", (case.X.copy(), case.Y.copy(), tuple(a.copy() for a in cache)))
        if not isinstance(got, dict):
            raise Failed("backward_propagation_n should return a dict of gradients")
        missing = [k for k in reference.GRAD_KEYS if k not in got]
        if missing:
            raise Failed(f"the gradients dict has no {', '.join(missing)}")
        for key in reference.GRAD_KEYS:
            shape = reference.PARAM_SHAPES[key[1:]]
            entry = as_array(got[key], key)
            if entry.shape != shape:
                raise Failed(f"{key} has shape {entry.shape}, expected {shape} (the shape of {key[1:]})")
            if not np.all(np.isfinite(entry)):
                raise Failed(f"{key} contains nan or inf (on {case.name})")
        grad = reference.gradients_to_vector(got)
        approx = reference.numerical_gradient_n(case.X, case.Y, case.parameters, case.epsilon)
        difference = reference.relative_difference(grad, approx)
        measured[case.name] = difference
        if not difference < tol.threshold:
            raise Failed(f"the gradient check fails on {case.name}: difference {difference:.3g} "
                         f"(must be below {tol.threshold:g}). {localise(grad, approx, tol.threshold, case.public)}.")
    return measured


def _checker_cases(tol: Tolerances):
    """(label, case, gradients, epsilon, forward dependency) for gradient_check_n."""
    classic = cases.classic_case()
    _, cache = reference.forward_propagation_n(classic.X, classic.Y, classic.parameters)
    network = cases.network_cases(tol)
    smooth_params = random_parameters(21)
    smooth_bad = dependencies.smooth_gradients(smooth_params)
    smooth_bad["dW3"] = smooth_bad["dW3"] + 0.5
    drawn = network[3]
    _, drawn_cache = reference.forward_propagation_n(drawn.X, drawn.Y, drawn.parameters)
    drawn_bad = reference.backward_propagation_n(drawn.X, drawn.Y, drawn_cache)
    drawn_bad["db2"] = -drawn_bad["db2"]
    # The buggy classic case comes first: on it every known checker mistake gives a different
    # value, so the hint names the right one.
    return [
        ("the classic case with dW2 doubled and db1 times 4", classic,
         cases.classic_buggy_gradients(classic), 1e-7, "reference.forward_propagation_n"),
        ("the classic case with correct gradients", classic,
         reference.backward_propagation_n(classic.X, classic.Y, cache), 1e-7, "reference.forward_propagation_n"),
        ("a hidden smooth non-linear cost with its exact gradient", cases.NetworkCase("smooth", classic.X, classic.Y, smooth_params),
         dependencies.smooth_gradients(smooth_params), 1e-3, "smooth.forward_n"),
        ("a hidden smooth non-linear cost with a wrong dW3", cases.NetworkCase("smooth", classic.X, classic.Y, smooth_params),
         smooth_bad, 1e-3, "smooth.forward_n"),
        (f"{drawn.name}, with db2 of the wrong sign", drawn, drawn_bad, 1e-5, "reference.forward_propagation_n"),
    ]


def check_gradient_check_n(subject: Subject, tol: Tolerances) -> dict:
    measured = {}
    for label, case, gradients, eps, forward_spec in _checker_cases(tol):
        forward = dependencies.resolve(forward_spec)
        deps = {**REFERENCE_DEPS_N, "forward_propagation_n": forward_spec}
        expected = reference.gradient_check_n(case.parameters, gradients, case.X, case.Y, eps, forward=forward)
        args = (case.copy_parameters(), {k: v.copy() for k, v in gradients.items()}, case.X.copy(), case.Y.copy(), eps)
        got = as_float(subject.call("gradient_check_n", args, deps), f"the difference for {label}")
        measured[label] = expected
        if not np.isclose(got, expected, rtol=CHECKER_RTOL, atol=CHECKER_ATOL):
            theta, _ = reference.dictionary_to_vector(case.parameters)
            cost = lambda t: float(forward(case.X, case.Y, reference.vector_to_dictionary(t))[0])
            hint = recognise(got, expected, cost, reference.gradients_to_vector(gradients), theta, eps)
            raise checker_failure(label, eps, got, expected, case.public, hint,
                                  "Check the loop over the parameters, gradapprox and the relative norm.")
    return measured


CHECKS: dict[str, Callable[[Subject, Tolerances], dict]] = {
    "forward_propagation": check_forward_propagation,
    "backward_propagation": check_backward_propagation,
    "gradient_check": check_gradient_check,
    "dictionary_to_vector": check_dictionary_to_vector,
    "vector_to_dictionary": check_vector_to_dictionary,
    "gradients_to_vector": check_gradients_to_vector,
    "forward_propagation_n": check_forward_propagation_n,
    "backward_propagation_n": check_backward_propagation_n,
    "gradient_check_n": check_gradient_check_n,
}

