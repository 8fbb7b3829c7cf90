"""Named stand-ins for the functions a student's function calls.

Each exercise is judged with trusted versions of what it depends on, so one bug costs only its
own exercise. The checkers are also given costs whose answer is known and non-linear, so that
a one-sided difference or a wrong step cannot hide behind a linear J.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import reference as R


def cubic_forward(x, theta):
    """J = x * theta^3: non-linear, so one- and two-sided differences disagree."""
    return x * theta ** 3


def cubic_backward(x, theta):
    return 3 * x * theta ** 2


def cubic_backward_doubled(x, theta):
    """A backward pass with a known error: twice the true derivative."""
    return 6 * x * theta ** 2


def smooth_forward_n(X, Y, parameters):
    """A cost of the 47 parameters with known gradient: sum(sin(theta) + theta^3 / 10)."""
    theta, _ = R.dictionary_to_vector(parameters)
    return float(np.sum(np.sin(theta) + theta ** 3 / 10)), None


def smooth_gradients(parameters) -> dict:
    """The exact gradient of smooth_forward_n, as a gradients dict."""
    return {"d" + k: np.cos(v) + 3 * v ** 2 / 10 for k, v in parameters.items()}


DEPENDENCIES: dict[str, Callable] = {
    "reference.forward_propagation": R.forward_propagation,
    "reference.backward_propagation": R.backward_propagation,
    "reference.dictionary_to_vector": R.dictionary_to_vector,
    "reference.vector_to_dictionary": R.vector_to_dictionary,
    "reference.gradients_to_vector": R.gradients_to_vector,
    "reference.forward_propagation_n": R.forward_propagation_n,
    "cubic.forward": cubic_forward,
    "cubic.backward": cubic_backward,
    "cubic.backward_doubled": cubic_backward_doubled,
    "smooth.forward_n": smooth_forward_n,
}


def resolve(spec: str) -> Callable:
    """The function a dependency name stands for ("lab.*" names live in lab_dependencies)."""
    table = DEPENDENCIES
    if spec.startswith("lab."):
        from .lab_dependencies import LAB_DEPENDENCIES
        table = LAB_DEPENDENCIES
    try:
        return table[spec]
    except KeyError:
        raise KeyError(f"unknown dependency {spec!r}") from None
