"""The hidden checks of gradient_checking: one function per exercise, judging a student's function
through a Subject (trusted side).

The same checks run in the notebook's hidden test cells (for students' and plain nbgrader's
sake) and in the trusted judge, which is what the grade comes from. A check returns what it
measured; it never trusts anything from the Subject but plain numbers and arrays.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from autograder.grading.compare import (NAMED_FACTORS, VALUE_ATOL, VALUE_RTOL, as_array, as_float,
                                        checker_failure, off_by, same_values, wrong_shape)
from autograder.student import checker_probes as probes
from autograder.grading.mistakes import shared_value_text
from autograder.grading.numerics import relative_difference
from autograder.grading.results import Failed
from autograder.grading.secret import course_secret, hidden_rng
from autograder.grading.subject import StudentError, Subject
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
               (0.7, -1.5, "a hidden case with negative theta"), (1.5, 0.0, "a hidden case with theta=0"),
               (-0.5, 3e8, "a hidden case with a large theta"),
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


#: The case of GRADIENT_CHECK_CASES on which print_msg=True is checked too.
PRINT_MSG_CASE = 2
# (label, x, theta, epsilon, deps, public, probe): linear J at the classic point, then a cubic J
# whose two-sided and one-sided differences disagree, then cases that change one dependency of
# an earlier case: probe = (index of that case, the dependency changed). A checker whose result
# does not move with the dependency does not call it.
GRADIENT_CHECK_CASES = [
    ("J = theta * x at x=2, theta=4", 2.0, 4.0, 1e-7, ("reference.forward_propagation", "reference.backward_propagation"), True, None),
    ("J = x * theta^3 at x=1, theta=1", 1.0, 1.0, 1e-2, ("cubic.forward", "cubic.backward"), True, None),
    ("a hidden non-linear J at a negative theta", 0.7, -1.5, 1e-3, ("cubic.forward", "cubic.backward"), False, None),
    ("a hidden non-linear J with a wrong dtheta", 1.0, 1.0, 1e-2, ("cubic.forward", "cubic.backward_doubled"), False,
     (1, "backward_propagation")),
    ("a hidden J that dtheta does not belong to", 1.0, 1.0, 1e-2, ("cubic.forward_other", "cubic.backward"), False,
     (1, "forward_propagation")),
    ("a hidden non-linear J with a dtheta of the wrong sign", 1.0, 1.0, 1e-2, ("cubic.forward", "cubic.backward_opposite"),
     False, None),
    ("a hidden linear J at theta=0", 1.5, 0.0, 1e-3, ("reference.forward_propagation", "reference.backward_propagation"),
     False, None),
]

#: What a checker that ignores a dependency is told: it does not use it (not a guess at a formula).
UNUSED = {
    "forward_propagation": "gradient_check does not call forward_propagation: its result did not change when "
                           "forward_propagation was replaced by another J. Compute J_plus and J_minus with "
                           "forward_propagation(x, theta_plus) and forward_propagation(x, theta_minus)",
    "backward_propagation": "gradient_check does not call backward_propagation: its result did not change when "
                            "backward_propagation was replaced by one returning another dtheta. "
                            "Take grad = backward_propagation(x, theta)",
    "forward_propagation_n": "gradient_check_n does not call forward_propagation_n: its result did not change "
                             "when forward_propagation_n was replaced by another cost. Compute each J_plus[i] "
                             "and J_minus[i] with forward_propagation_n(X, Y, vector_to_dictionary(...))",
    "gradients": "gradient_check_n does not use its gradients argument: its result did not change when the "
                 "gradients did. Take grad = gradients_to_vector(gradients)",
}


def _unused_dependency(outcomes: list) -> str | None:
    """The text for a dependency whose change left the checker's result where it was, if any.

    outcomes: (got or exception, expected, probe) per case, in case order."""
    for got, expected, probe in outcomes:
        if probe is None:
            continue
        base_got, base_expected, _ = outcomes[probe[0]]
        if isinstance(got, Exception) or isinstance(base_got, Exception) or shared_value_text(got):
            continue  # a difference of 1 stays 1 whatever changes: it tells nothing
        if not np.isclose(expected, base_expected, rtol=1e-3) and np.isclose(got, base_got, rtol=1e-9, atol=0):
            return UNUSED[probe[1]]
    return None


def _checker_verdict(runs: list, outcomes: list, diagnosis: Callable[[], str | None]):
    """Raise the failure of the first case a checker gets wrong, with what the probes showed
    (diagnosis: autograder.student.checker_probes) when they show something. runs: (label, eps, public,
    advice) per case."""
    for (label, eps, public, advice), (got, expected, _) in zip(runs, outcomes):
        if isinstance(got, Exception):
            raise got
        if np.isclose(got, expected, rtol=CHECKER_RTOL, atol=CHECKER_ATOL):
            continue
        unused = _unused_dependency(outcomes)
        hint = None if unused else probes.hint(diagnosis())
        if not (unused or hint):
            shared = shared_value_text(got)
            advice = (shared[0].upper() + shared[1:]) if shared else advice
        raise checker_failure(label, eps, got, expected, public, hint, (unused + ".") if unused else advice)


def _print_msg_problem(function: str, with_print, own, label: str, public: bool) -> Exception | None:
    """What is wrong with the checker's answer to the same call with print_msg=True (it must only
    print), given its answer without: None when nothing is. An older signature without print_msg
    is accepted."""
    if isinstance(own, Exception):
        return None  # the call without print_msg failed: that failure is the verdict
    if isinstance(with_print, StudentError):
        if f"{function}() takes" in with_print.message and "positional argument" in with_print.message:
            return None
        return StudentError(f"with print_msg=True: {with_print.message}", with_print.status)
    if isinstance(with_print, Failed):
        return with_print  # its text names the call with print_msg=True
    if not np.isclose(with_print, own, rtol=CHECKER_RTOL, atol=CHECKER_ATOL):
        values = f" ({with_print:.6g} with it, {own:.6g} without)" if public else ""  # a hidden case's stay hidden
        return Failed(f"for {label} it returns another difference with print_msg=True than without{values}: "
                      "print_msg should only print a verdict, not change the difference")
    return None


def _call_with_print_msg(subject: Subject, function: str, args: tuple, deps: dict, expected: float, label: str,
                         public: bool):
    """The checker's result on one case, and what is wrong with its print_msg (None when nothing).

    Called with print_msg=True first: a result that matches the reference needs no second call
    (print_msg only printed); otherwise the call without it gives the result to judge, and the
    two are compared, as before."""
    with_print = _call_checker(subject, function, (*args, True), deps, f"{label} with print_msg=True")
    if not isinstance(with_print, Exception) and np.isclose(with_print, expected, rtol=CHECKER_RTOL,
                                                            atol=CHECKER_ATOL):
        return with_print, None
    own = _call_checker(subject, function, args, deps, label)
    return own, _print_msg_problem(function, with_print, own, label, public)


def _call_checker(subject: Subject, function: str, args: tuple, deps: dict, label: str):
    """The checker's result as a float, or the Failed/StudentError it ended with (raised after
    the cases before it are judged, so that their results are there to recognise a mistake)."""
    try:
        return as_float(subject.call(function, args, deps), f"the difference for {label}")
    except (Failed, StudentError) as exc:
        return exc


def _probe_call(subject: Subject, function: str, args: tuple, deps: dict):
    """The checker's result on a probe as a float, or None when the call failed."""
    try:
        return as_float(subject.call(function, args, deps), "the difference")
    except (Failed, StudentError):
        return None


def _one_d_probe(subject: Subject) -> probes.Probe:
    """gradient_check, ready to be probed on J = x·θ²/2 (dependencies.probe_forward)."""
    theta, x, eps = np.array([probes.PROBE_THETA]), probes.PROBE_X, probes.PROBE_EPSILON
    deps = {"forward_propagation": "probe.forward", "backward_propagation": "probe.backward"}

    def call(grad, flat):
        with probes.answering(float(np.ravel(grad)[0])):
            return _probe_call(subject, "gradient_check", (x, float(theta[0]), eps), deps)

    return probes.Probe(theta, eps, lambda t: x * float(np.ravel(t)[0]) ** 2 / 2, x * theta, call,
                        grad_point="backward")


def check_gradient_check(subject: Subject, tol: Tolerances) -> dict:
    measured, runs, outcomes, print_problem = {}, [], [], None
    for index, (label, x, theta, eps, (fwd, bwd), public, probe) in enumerate(GRADIENT_CHECK_CASES):
        deps = {"forward_propagation": fwd, "backward_propagation": bwd}
        forward, backward = dependencies.resolve(fwd), dependencies.resolve(bwd)
        expected = reference.gradient_check(x, theta, eps, forward=forward, backward=backward)
        if index == PRINT_MSG_CASE:
            got, print_problem = _call_with_print_msg(subject, "gradient_check", (x, theta, eps), deps, expected,
                                                      label, public)
        else:
            got = _call_checker(subject, "gradient_check", (x, theta, eps), deps, label)
        measured[label] = expected
        runs.append((label, eps, public, "Check gradapprox = (J(θ+ε) − J(θ−ε)) / (2ε) and the relative norm."))
        outcomes.append((got, expected, probe))
        if isinstance(got, Exception):
            break  # raised in its turn; no more calls (a loop would cost every case its time)
    _checker_verdict(runs, outcomes, lambda: probes.diagnose(_one_d_probe(subject)))
    if print_problem is not None:
        raise print_problem
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
    for seed, order in ((7, reference.PARAM_KEYS), (8, ("b3", "W2", "b1", "W3", "W1", "b2"))):
        parameters = random_parameters(seed)  # the second in another insertion order: theta's order is fixed
        got = subject.call("dictionary_to_vector", ({k: parameters[k].copy() for k in order},))
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Failed("dictionary_to_vector should return a pair (theta, keys)")
        theta = as_array(got[0], "theta")
        expected, expected_keys = reference.dictionary_to_vector(parameters)
        if theta.shape == expected.shape and not np.allclose(theta, expected, rtol=VALUE_RTOL, atol=VALUE_ATOL):
            raise Failed("theta is in the wrong order: " + locate_blocks(theta, parameters))
        same_values(theta, expected, "theta", public=False)
        check_keys(got[1], expected_keys)
    return {}


def check_keys(keys, expected: list) -> None:
    """keys names, for each row of theta, the block it came from (the text asks for it)."""
    if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
        raise Failed(f"keys should be a list of block names, one per row of theta, but it is {type(keys).__name__}")
    if len(keys) != len(expected):
        blocks = len(dict.fromkeys(expected))  # a known mistake, said in the judge's own numbers
        said = f"one entry per block ({blocks})" if len(keys) == blocks else (
            "fewer entries" if len(keys) < len(expected) else "more entries")
        raise Failed(f"keys has {said}; it needs one per row of theta ({len(expected)})")
    row = next((i for i, (k, want) in enumerate(zip(keys, expected)) if k != want), None)
    if row is not None:  # the expected name only: the student's strings are never echoed
        raise Failed(f"keys[{row}] is wrong: row {row} of theta comes from {expected[row]}")


def locate_element(got_block: np.ndarray, key: str, theta: np.ndarray) -> str | None:
    """Where a wrong block's first wrong element came from in theta, when it can be found."""
    flat, where = theta.ravel(), reference.BLOCK_SLICES[key]
    shape = reference.PARAM_SHAPES[key]
    want = flat[where].reshape(shape)
    if got_block.shape != shape or np.allclose(got_block, want, rtol=VALUE_RTOL, atol=VALUE_ATOL):
        return None
    if np.allclose(got_block, flat[where].reshape(shape, order="F")):
        return (f"{key} is filled column by column (order=\"F\", or a reshape to {shape[::-1]} then a transpose); "
                f"reshape theta[{where.start}:{where.stop}] to {shape}, which fills it row by row as "
                f"dictionary_to_vector flattens it")
    wrong = np.argwhere(~np.isclose(got_block, want, rtol=VALUE_RTOL, atol=VALUE_ATOL))
    if not len(wrong):
        return None
    index = tuple(int(i) for i in wrong[0])
    sources = np.flatnonzero(np.isclose(flat, got_block[index], rtol=VALUE_RTOL, atol=VALUE_ATOL))
    should = where.start + int(np.ravel_multi_index(index, shape))
    if len(sources) == 1:
        return f"{key}[{index[0]}, {index[1]}] holds theta[{sources[0]}]; it should hold theta[{should}]"
    return f"{key}[{index[0]}, {index[1]}] is not theta[{should}], nor any other entry of theta"


def check_vector_to_dictionary(subject: Subject, tol: Tolerances) -> dict:
    for seed in (9, 10):
        theta = hidden_rng("gradient_checking", "theta", seed).standard_normal((reference.N_PARAMS, 1))
        got = subject.call("vector_to_dictionary", (theta.copy(),))
        if not isinstance(got, dict):
            raise Failed("vector_to_dictionary should return a dict of parameters")
        expected = reference.vector_to_dictionary(theta)
        for key, want in expected.items():
            if key not in got:
                raise Failed(f"the dict has no key {key!r}")
            block = as_array(got[key], key)
            if block.shape != want.shape:
                raise Failed(wrong_shape(key, want.shape))
            where = locate_element(block, key, theta)
            if where:
                raise Failed(where)
            same_values(block, want, key, public=False)
    return {}


#: The order of the keys of gradients_to_vector's hidden dicts: the six blocks and extra entries as
#: backward_propagation_n returns them, in an unhelpful order; the last with one extra only.
GRADIENT_KEY_ORDERS = (("dZ3", "db3", "dA2", "dW2", "dZ1", "db1", "dW3", "dA1", "db2", "dW1"),
                       ("dZ3", "db3", "dA2", "dW2", "dZ1", "db1", "dW3", "dA1", "db2", "dW1"),
                       ("db3", "dW2", "dZ1", "db1", "dW3", "db2", "dW1"))


def check_gradients_to_vector(subject: Subject, tol: Tolerances) -> dict:
    for seed, order in zip((11, 12, 13), GRADIENT_KEY_ORDERS):
        rng = hidden_rng("gradient_checking", "gradients", seed)
        gradients = {"d" + k: rng.standard_normal(s) for k, s in reference.PARAM_SHAPES.items()}
        extras = {"dZ3": rng.standard_normal((1, 3)), "dA2": rng.standard_normal((3, 3)),
                  "dZ1": rng.standard_normal((5, 3)), "dA1": rng.standard_normal((5, 3))}
        everything = {**gradients, **extras}
        mixed = {k: everything[k] for k in order}
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
            if np.isclose(got_cost, expected_cost * m):
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
    parts = [f"{k}: relative difference {v:.2g}" if public else f"{k} disagrees"
             for k, v in sorted(bad.items(), key=lambda kv: -kv[1])]
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
            named = public or abs(round(ratio)) in NAMED_FACTORS  # a hidden case names only a few
            if named and round(ratio) not in (0, 1) and np.allclose(g, round(ratio) * a, rtol=1e-5, atol=1e-9):
                ratios["d" + key] = int(round(ratio))
    for key, ratio in ratios.items():
        text += f". {key} is exactly {ratio} × the numerical gradient: look for a stray factor"
    return text


#: Gradients derived with the chain rule in float64 agree with the reference's to about 1e-15
#: relative, whatever the order of operations; a central difference at its best step agrees to
#: no better than about 1e-10 on these cases (rounding ~1e-16/ε against truncation ~ε²).
EXACT_RTOL = 1e-12
NUMERICAL = ("this exercise is to derive backpropagation: compute dZ3, dW3, db3, dA2, ... from the cache "
             "with the chain rule, not from differences of the cost")


def _gradient_vector(got, case_name: str, public: bool = False) -> np.ndarray:
    """The six gradient blocks of a backward pass's result as a (47, 1) column, or Failed (a
    hidden case's message never shows the shape the student's function chose)."""
    if not isinstance(got, dict):
        raise Failed("backward_propagation_n should return a dict of gradients")
    missing = [k for k in reference.GRAD_KEYS if k not in got]
    if missing:
        raise Failed(f"the gradients dict has no {', '.join(missing)}")
    for key in reference.GRAD_KEYS:
        shape = reference.PARAM_SHAPES[key[1:]]
        entry = as_array(got[key], key)
        if entry.shape != shape:
            said = f"{key} has shape {entry.shape}, expected {shape}" if public else wrong_shape(key, shape)
            raise Failed(f"{said} (the shape of {key[1:]})")
        if not np.all(np.isfinite(entry)):
            raise Failed(f"{key} contains nan or inf (on {case_name})")
    return reference.gradients_to_vector(got)


#: What db3 shows about dZ3 when it is wrong: db3 = mean(dZ3) depends on dZ3 alone, so it isolates
#: the output layer. {finding: (dZ3 as the mistake computes it from A3 and Y, the hint)}.
OUTPUT_LAYER = {
    "sigmoid_twice": (lambda A3, Y: (A3 - Y) * A3 * (1 - A3),
                      "dZ3 is multiplied by the sigmoid's derivative A3 (1 − A3): db3 is the mean of "
                      "(A3 − Y)·A3·(1 − A3). With the cross-entropy cost, dZ3 = A3 − Y already includes it"),
    "dZ3_sign": (lambda A3, Y: Y - A3, "dZ3 has the wrong sign: db3 is the mean of Y − A3; dZ3 = A3 − Y"),
}


def _output_layer(got: dict, case, cache) -> str:
    """The hint for a wrong dZ3 that db3 shows, or ""."""
    A3, m = cache[9], case.X.shape[1]
    db3 = np.asarray(got["db3"], dtype=np.float64).reshape(-1)
    if np.allclose(db3, np.sum(A3 - case.Y, axis=1) / m, rtol=VALUE_RTOL, atol=VALUE_ATOL):
        return ""
    for dZ3, text in OUTPUT_LAYER.values():
        if np.allclose(db3, np.sum(dZ3(A3, case.Y), axis=1) / m, rtol=VALUE_RTOL, atol=VALUE_ATOL):
            return f" It looks like {text}."
    return ""


def _calls_the_cost(subject: Subject, case, cache, grad: np.ndarray) -> bool:
    """True when the backward pass's result moves with forward_propagation_n: an analytic one
    only reads the cache, a numerical one evaluates the cost."""
    args = (case.X.copy(), case.Y.copy(), tuple(a.copy() for a in cache))
    try:
        probe = _gradient_vector(subject.call("backward_propagation_n", args,
                                              {"forward_propagation_n": "smooth.forward_n"}), case.name)
    except (Failed, StudentError):
        return False  # it broke on another cost: it does not difference it
    return relative_difference(probe, grad) > EXACT_RTOL


def check_backward_propagation_n(subject: Subject, tol: Tolerances) -> dict:
    measured = {}
    for index, case in enumerate(cases.network_cases(tol)):
        _, cache = reference.forward_propagation_n(case.X, case.Y, case.parameters)
        got = subject.call("backward_propagation_n", (case.X.copy(), case.Y.copy(), tuple(a.copy() for a in cache)))
        grad = _gradient_vector(got, case.name, case.public)
        if index == 0 and _calls_the_cost(subject, case, cache, grad):
            raise Failed("backward_propagation_n computes its gradients numerically: they change when "
                         f"forward_propagation_n is replaced by another cost. {NUMERICAL[0].upper()}{NUMERICAL[1:]}.")
        approx = reference.numerical_gradient_n(case.X, case.Y, case.parameters, case.epsilon)
        difference = reference.relative_difference(grad, approx)
        measured[case.name] = difference
        if not difference < tol.threshold:
            shown = (f"difference {difference:.3g} (must be below {tol.threshold:g})" if case.public
                     else f"the difference is not below {tol.threshold:g}")
            raise Failed(f"the gradient check fails on {case.name}: {shown}. "
                         f"{localise(grad, approx, tol.threshold, case.public)}." + _output_layer(got, case, cache))
        exact = reference.gradients_to_vector(reference.backward_propagation_n(case.X, case.Y, cache))
        inexact = relative_difference(grad, exact)
        if inexact > EXACT_RTOL:
            only = f"only to {inexact:.0e} (relative)" if case.public else "only roughly"
            raise Failed(f"the gradients on {case.name} agree with the exact ones {only}; "
                         "gradients derived with the chain rule in float64 agree to about 1e-15. A numerical "
                         f"difference (or float32 arithmetic) gives this: {NUMERICAL}.")
    return measured


def _flipped_db2(network, tol: Tolerances, eps: float = 1e-5):
    """A hidden draw and its gradients with db2 of the wrong sign, where that is a bug the check
    sees (the difference clears the threshold SAFETY_MARGIN times over): a draw whose second
    layer is all but dead has db2 ≈ 0, and flipping it changes nothing. The print_msg case uses
    it, so its "mistake" branch is the one that runs."""
    for drawn in (network[3], network[4], network[2], network[1]):
        _, cache = reference.forward_propagation_n(drawn.X, drawn.Y, drawn.parameters)
        bad = reference.backward_propagation_n(drawn.X, drawn.Y, cache)
        bad["db2"] = -bad["db2"]
        if reference.gradient_check_n(drawn.parameters, bad, drawn.X, drawn.Y, eps) > tol.threshold * cases.SAFETY_MARGIN:
            return drawn, bad
    raise RuntimeError("no hidden network draw has a db2 whose sign the check can see")


def checker_cases(tol: Tolerances) -> tuple:
    """(label, case, gradients, epsilon, forward dependency, probe, expected) for gradient_check_n;
    probe as in GRADIENT_CHECK_CASES ("gradients" when only the gradients changed), expected what
    the reference checker returns. The same for every student: drawn and computed once."""
    return _checker_plan(tol, course_secret())


@functools.lru_cache(maxsize=2)
def _checker_plan(tol: Tolerances, secret: bytes) -> tuple:
    classic = cases.classic_case()
    _, cache = reference.forward_propagation_n(classic.X, classic.Y, classic.parameters)
    network = cases.network_cases(tol)
    smooth_params = random_parameters(21)
    smooth = cases.NetworkCase("smooth", classic.X, classic.Y, smooth_params)
    smooth_bad = dependencies.smooth_gradients(smooth_params)
    smooth_bad["dW3"] = smooth_bad["dW3"] + 0.5
    drawn, drawn_bad = _flipped_db2(network, tol)
    planned = [
        ("the classic case with dW2 doubled and db1 times 4", classic,
         cases.classic_buggy_gradients(classic), 1e-7, "reference.forward_propagation_n", None),
        ("the classic case with correct gradients", classic,
         reference.backward_propagation_n(classic.X, classic.Y, cache), 1e-7, "reference.forward_propagation_n",
         (0, "gradients")),
        ("a hidden smooth non-linear cost with its exact gradient", smooth,
         dependencies.smooth_gradients(smooth_params), 1e-3, "smooth.forward_n", None),
        ("a hidden smooth non-linear cost with a wrong dW3", smooth, smooth_bad, 1e-3, "smooth.forward_n", (2, "gradients")),
        ("a hidden smooth cost that the gradients do not belong to", smooth,
         dependencies.smooth_gradients(smooth_params), 1e-3, "smooth.forward_n_other", (2, "forward_propagation_n")),
        (f"{drawn.name}, with db2 of the wrong sign", drawn, drawn_bad, 1e-5, "reference.forward_propagation_n", None),
    ]
    return tuple((*plan, reference.gradient_check_n(plan[1].parameters, plan[2], plan[1].X, plan[1].Y, plan[3],
                                                     forward=dependencies.resolve(plan[4]))) for plan in planned)


def _network_probe(subject: Subject) -> probes.Probe:
    """gradient_check_n, ready to be probed on dependencies.probe_cost_n (a recording stand-in)."""
    classic = cases.classic_case()
    theta, eps = probes.probe_point(reference.N_PARAMS), probes.PROBE_EPSILON
    parameters = reference.vector_to_dictionary(theta)

    def call(grad, flat):
        gradients = {"d" + k: v for k, v in reference.vector_to_dictionary(grad).items()}
        deps = {**REFERENCE_DEPS_N, "gradients_to_vector": "probe.gradients_to_vector",
                "forward_propagation_n": "probe.flat_n" if flat else "probe.quadratic_n"}
        args = ({k: v.copy() for k, v in parameters.items()}, gradients, classic.X.copy(), classic.Y.copy(), eps)
        return _probe_call(subject, "gradient_check_n", args, deps)

    return probes.Probe(theta, eps, probes.quadratic_cost, probes.probe_weights(theta.size) + theta, call,
                        grad_builder="gradients_to_vector")


def check_gradient_check_n(subject: Subject, tol: Tolerances) -> dict:
    measured, runs, outcomes, print_problem = {}, [], [], None
    planned = checker_cases(tol)
    for index, (label, case, gradients, eps, forward_spec, probe, expected) in enumerate(planned):
        deps = {**REFERENCE_DEPS_N, "forward_propagation_n": forward_spec}
        args = (case.copy_parameters(), {k: v.copy() for k, v in gradients.items()}, case.X.copy(), case.Y.copy(), eps)
        if index == len(planned) - 1:
            got, print_problem = _call_with_print_msg(subject, "gradient_check_n", args, deps, expected, label,
                                                      case.public)
        else:
            got = _call_checker(subject, "gradient_check_n", args, deps, label)
        measured[label] = expected
        runs.append((label, eps, case.public, "Check the loop over the parameters, gradapprox and the relative norm."))
        outcomes.append((got, expected, probe))
        if isinstance(got, Exception):
            break  # raised in its turn; no more calls (a loop would cost every case its time)
    _checker_verdict(runs, outcomes, lambda: probes.diagnose(_network_probe(subject)))
    if print_problem is not None:
        raise print_problem
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

