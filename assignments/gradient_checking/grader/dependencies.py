"""Named stand-ins for the functions a student's function calls in gradient_checking (trusted side).

Each exercise is judged with trusted versions of what it depends on, so one bug costs only its
own exercise. The checkers are also given costs whose answer is known and non-linear, so that
a one-sided difference or a wrong step cannot hide behind a linear J.
"""
from __future__ import annotations

import inspect
import textwrap
from typing import Callable

import numpy as np

from autograder.student import checker_probes as probes

from . import reference
from .reference import dictionary_to_vector


def cubic_forward(x, theta):
    """J = x * theta^3: non-linear, so one- and two-sided differences disagree."""
    return x * theta ** 3


def cubic_backward(x, theta):
    return 3 * x * theta ** 2


def cubic_backward_doubled(x, theta):
    """A backward pass with a known error: twice the true derivative."""
    return 6 * x * theta ** 2


def cubic_backward_opposite(x, theta):
    """A backward pass of the wrong sign and size, −2 × the true derivative: grad and gradapprox
    of opposite signs, where ‖grad + gradapprox‖ is not ‖grad‖ + ‖gradapprox‖."""
    return -6 * x * theta ** 2


def cubic_forward_other(x, theta):
    """Another J, J = x * (theta^3 + theta^2): a checker that calls forward_propagation sees it."""
    return x * (theta ** 3 + theta ** 2)


def smooth_forward_n(X, Y, parameters):
    """A cost of the 47 parameters with known gradient: sum(sin(theta) + theta^3 / 10)."""
    theta, _ = dictionary_to_vector(parameters)
    return float(np.sum(np.sin(theta) + theta ** 3 / 10)), None


def smooth_forward_n_other(X, Y, parameters):
    """Another cost of the 47 parameters, smooth_forward_n plus sum(theta^2) / 2."""
    theta, _ = dictionary_to_vector(parameters)
    return float(np.sum(np.sin(theta) + theta ** 3 / 10 + theta ** 2 / 2)), None


def smooth_gradients(parameters) -> dict:
    """The exact gradient of smooth_forward_n, as a gradients dict."""
    return {"d" + k: np.cos(v) + 3 * v ** 2 / 10 for k, v in parameters.items()}


# ---- recording stand-ins for the probes of a failing checker (autograder/student/checker_probes.py)

def probe_quadratic_n(X, Y, parameters):
    """The probe cost of the parameters (checker_probes.quadratic_cost), recording the θ it is
    evaluated at."""
    theta, _ = dictionary_to_vector(parameters)
    probes.record(theta)
    return probes.quadratic_cost(theta), None


def probe_flat_n(X, Y, parameters):
    """The linear cost FLAT_SLOPE·Σθ: every component has the same slope."""
    theta, _ = dictionary_to_vector(parameters)
    return probes.linear_cost(np.full(theta.shape, probes.FLAT_SLOPE), theta), None


def probe_gradients_to_vector(gradients):
    """gradients_to_vector, noting that it was called (grad then is in θ's order)."""
    probes.record_call("gradients_to_vector")
    return reference.gradients_to_vector(gradients)


DEPENDENCIES: dict[str, Callable] = {
    "reference.forward_propagation": reference.forward_propagation,
    "reference.backward_propagation": reference.backward_propagation,
    "reference.dictionary_to_vector": reference.dictionary_to_vector,
    "reference.vector_to_dictionary": reference.vector_to_dictionary,
    "reference.gradients_to_vector": reference.gradients_to_vector,
    "reference.forward_propagation_n": reference.forward_propagation_n,
    "cubic.forward": cubic_forward,
    "cubic.backward": cubic_backward,
    "cubic.backward_doubled": cubic_backward_doubled,
    "cubic.backward_opposite": cubic_backward_opposite,
    "cubic.forward_other": cubic_forward_other,
    "smooth.forward_n": smooth_forward_n,
    "smooth.forward_n_other": smooth_forward_n_other,
    "probe.quadratic_n": probe_quadratic_n,
    "probe.flat_n": probe_flat_n,
    "probe.gradients_to_vector": probe_gradients_to_vector,
    "probe.forward": probes.quadratic_1d,
    "probe.backward": probes.answering_backward,
}


def resolve(spec: str) -> Callable:
    """The function a dependency name of this table stands for."""
    try:
        return DEPENDENCIES[spec]
    except KeyError:
        raise KeyError(f"unknown dependency {spec!r}") from None


#: Most examples a student's call may hand a trusted network function: far above what a correct
#: call sends, far below what could exhaust memory (the engine caps the count of numbers too).
MAX_EXAMPLES = 1_000


def _child_side(functions, fast_path: str) -> str:
    """Source for the judge's child: these trusted functions' own code (so the child computes
    exactly what the judge would), the constants they use, and fast_path."""
    constants = {"np": "numpy", "PARAM_KEYS": repr(reference.PARAM_KEYS),
                 "PARAM_SHAPES": repr(reference.PARAM_SHAPES), "VECTOR_KEYS": repr(reference.VECTOR_KEYS),
                 "BLOCK_SLICES": repr(reference.BLOCK_SLICES), "N_PARAMS": repr(reference.N_PARAMS),
                 "MAX_EXAMPLES": repr(MAX_EXAMPLES)}
    code = [f"{name} = {value}" for name, value in constants.items()]
    code += [textwrap.dedent(inspect.getsource(f)) for f in functions]
    return "\n".join(code + [textwrap.dedent(fast_path)])


#: The network's arguments as the judge would receive them, or None to leave the call to it.
_NETWORK_ARGUMENTS = """
def network_arguments(args, kwargs):
    \"\"\"(X, Y, parameters) as C-ordered float64 copies, as they arrive at the judge; None for
    anything else (odd shapes, dtypes, keys, keywords), which the judge answers or refuses.\"\"\"
    if kwargs or len(args) != 3:
        return None
    X, Y, parameters = args
    if type(parameters) is not dict or set(parameters) != set(PARAM_KEYS):
        return None
    arrays = [X, Y, *parameters.values()]
    if not all(type(a) is np.ndarray and a.dtype == np.float64 and a.dtype.isnative for a in arrays):
        return None
    if X.ndim != 2 or X.shape[0] != 4 or not 0 < X.shape[1] <= MAX_EXAMPLES or Y.shape != (1, X.shape[1]):
        return None
    if any(parameters[k].shape != PARAM_SHAPES[k] for k in PARAM_KEYS):
        return None
    return np.array(X, order="C"), np.array(Y, order="C"), {k: np.array(parameters[k], order="C") for k in PARAM_KEYS}
"""


def _network_call(function) -> str:
    return _NETWORK_ARGUMENTS + f"""
def fast_path(args, kwargs):
    plain = network_arguments(args, kwargs)
    return NotImplemented if plain is None else {function.__name__}(*plain)
"""


#: Trusted functions the judge's child runs itself in the common case, instead of a round trip to
#: the judge each call (a checker calls them 94 times a case); anything else goes to the judge as
#: before, so refusals and their words are unchanged. Each holds an exercise's code, so it is sent
#: once that exercise is judged (`after`). tests/judge/test_child_side.py holds each to the judge.
CHILD_SIDE = {
    "reference.vector_to_dictionary": (_child_side([reference.vector_to_dictionary], """
def fast_path(args, kwargs):
    if kwargs or len(args) != 1:
        return NotImplemented
    theta = args[0]
    if type(theta) is not np.ndarray or theta.dtype.kind not in "fiub" or theta.size != N_PARAMS:
        return NotImplemented
    return vector_to_dictionary(theta)
"""), ("vector_to_dictionary",)),
    "reference.forward_propagation_n": (_child_side(
        [reference.sigmoid, reference.relu, reference.cost_from_activations, reference.forward_propagation_n],
        _network_call(reference.forward_propagation_n)), ("forward_propagation_n",)),
    "smooth.forward_n": (_child_side([dictionary_to_vector, smooth_forward_n], _network_call(smooth_forward_n)),
                         ("dictionary_to_vector",)),
    "smooth.forward_n_other": (_child_side([dictionary_to_vector, smooth_forward_n_other],
                                           _network_call(smooth_forward_n_other)), ("dictionary_to_vector",)),
}


def _parameters_ok(parameters, keys) -> bool:
    return isinstance(parameters, dict) and all(
        k in parameters and np.shape(parameters[k]) == reference.PARAM_SHAPES[k.lstrip("d")] for k in keys)


def check_arguments(spec: str, args: list, kwargs: dict) -> None:
    """Refuse arguments a trusted function should never be asked to work on (ValueError).

    A student's code calls the trusted versions of its dependencies through the judge; this
    keeps such a call from making the trusted side allocate or compute without bound. Called by
    the judge after the engine's own limit on how many numbers the arguments hold."""
    name = spec.split(".", 1)[1] if "." in spec else spec
    if name in ("forward_propagation_n", "forward_n", "forward_n_other", "quadratic_n", "flat_n"):
        if len(args) != 3 or kwargs:
            raise ValueError(f"{name} takes (X, Y, parameters)")
        X, Y, parameters = args
        m = np.shape(X)[1] if np.ndim(X) == 2 else -1
        if np.shape(X)[:1] != (4,) or not 0 < m <= MAX_EXAMPLES or np.shape(Y) != (1, m):
            raise ValueError("X must have shape (4, m) and Y shape (1, m)")
        if not _parameters_ok(parameters, reference.PARAM_KEYS):
            raise ValueError("parameters must hold W1, b1, W2, b2, W3, b3 with their shapes")
    elif name == "vector_to_dictionary" and (len(args) != 1 or np.size(args[0]) != reference.N_PARAMS):
        raise ValueError(f"theta must have {reference.N_PARAMS} entries")
    elif name == "dictionary_to_vector" and (len(args) != 1 or not _parameters_ok(args[0], reference.PARAM_KEYS)):
        raise ValueError("parameters must hold W1, b1, W2, b2, W3, b3 with their shapes")
    elif name == "gradients_to_vector" and (len(args) != 1 or not _parameters_ok(args[0], reference.GRAD_KEYS)):
        raise ValueError("gradients must hold dW1, db1, dW2, db2, dW3, db3 with their shapes")
    elif name in ("forward_propagation", "backward_propagation", "forward", "backward", "backward_doubled",
                  "backward_opposite", "forward_other"):
        if any(np.ndim(a) > 1 or np.size(a) > MAX_EXAMPLES for a in args):
            raise ValueError("x and theta must be numbers or short 1-D arrays")
