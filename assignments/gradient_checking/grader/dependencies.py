"""Named stand-ins for the functions a student's function calls in gradient_checking (trusted side).

Each exercise is judged with trusted versions of what it depends on, so one bug costs only its
own exercise. The checkers are also given costs whose answer is known and non-linear, so that
a one-sided difference or a wrong step cannot hide behind a linear J.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import reference


def cubic_forward(x, theta):
    """J = x * theta^3: non-linear, so one- and two-sided differences disagree."""
    return x * theta ** 3


def cubic_backward(x, theta):
    return 3 * x * theta ** 2


def cubic_backward_doubled(x, theta):
    """A backward pass with a known error: twice the true derivative."""
    return 6 * x * theta ** 2


def cubic_forward_other(x, theta):
    """Another J, J = x * (theta^3 + theta^2): a checker that calls forward_propagation sees it."""
    return x * (theta ** 3 + theta ** 2)


def smooth_forward_n(X, Y, parameters):
    """A cost of the 47 parameters with known gradient: sum(sin(theta) + theta^3 / 10)."""
    theta, _ = reference.dictionary_to_vector(parameters)
    return float(np.sum(np.sin(theta) + theta ** 3 / 10)), None


def smooth_forward_n_other(X, Y, parameters):
    """Another cost of the 47 parameters, smooth_forward_n plus sum(theta^2) / 2."""
    theta, _ = reference.dictionary_to_vector(parameters)
    return float(np.sum(np.sin(theta) + theta ** 3 / 10 + theta ** 2 / 2)), None


def smooth_gradients(parameters) -> dict:
    """The exact gradient of smooth_forward_n, as a gradients dict."""
    return {"d" + k: np.cos(v) + 3 * v ** 2 / 10 for k, v in parameters.items()}


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
    "cubic.forward_other": cubic_forward_other,
    "smooth.forward_n": smooth_forward_n,
    "smooth.forward_n_other": smooth_forward_n_other,
}


def resolve(spec: str) -> Callable:
    """The function a dependency name of this table stands for."""
    try:
        return DEPENDENCIES[spec]
    except KeyError:
        raise KeyError(f"unknown dependency {spec!r}") from None


#: reference.vector_to_dictionary for its common case, run in the judge's child instead of a round
#: trip to the judge (a checker calls it 94 times a case): a reshaping shows nothing its answers
#: do not. Anything but one plain numeric array of N_PARAMS entries goes to the judge as before,
#: so refusals and their words are unchanged. tests/test_child_side.py holds it to the reference.
_BLOCKS = [(key, where.start, where.stop, reference.PARAM_SHAPES[key]) for key, where in reference.BLOCK_SLICES.items()]
CHILD_SIDE: dict[str, str] = {"reference.vector_to_dictionary": f"""
def fast_path(args, kwargs):
    if kwargs or len(args) != 1:
        return NotImplemented
    theta = args[0]
    if type(theta) is not numpy.ndarray or theta.dtype.kind not in "fiub" or theta.size != {reference.N_PARAMS}:
        return NotImplemented
    theta = numpy.asarray(theta, dtype=numpy.float64).reshape(-1)
    return {{key: theta[start:stop].reshape(shape).copy() for key, start, stop, shape in {_BLOCKS!r}}}
"""}


#: Most examples a student's call may hand a trusted network function: far above what a correct
#: call sends, far below what could exhaust memory (the engine caps the count of numbers too).
MAX_EXAMPLES = 1_000


def _parameters_ok(parameters, keys) -> bool:
    return isinstance(parameters, dict) and all(
        k in parameters and np.shape(parameters[k]) == reference.PARAM_SHAPES[k.lstrip("d")] for k in keys)


def check_arguments(spec: str, args: list, kwargs: dict) -> None:
    """Refuse arguments a trusted function should never be asked to work on (ValueError).

    A student's code calls the trusted versions of its dependencies through the judge; this
    keeps such a call from making the trusted side allocate or compute without bound. Called by
    the judge after the engine's own limit on how many numbers the arguments hold."""
    name = spec.split(".", 1)[1] if "." in spec else spec
    if name in ("forward_propagation_n", "forward_n", "forward_n_other"):
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
                  "forward_other"):
        if any(np.ndim(a) > 1 or np.size(a) > MAX_EXAMPLES for a in args):
            raise ValueError("x and theta must be numbers or short 1-D arrays")
