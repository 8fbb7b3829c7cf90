"""Named stand-ins for what the lab's graded functions call (the "lab.*" dependency names).

A hidden check swaps these into the student's globals, so each exercise is judged with trusted
versions of everything it uses, and with planted bugs whose effect the reference knows. In the
judge they are called over a pipe: each takes and returns plain data (numbers, arrays, tuples,
dicts of arrays), and none keeps state between calls but forward_with_dropout's count of mask
draws within one judged call (dependencies.new_call() starts it afresh).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ...gradient_checking.grader import dependencies as network_dependencies
from ...gradient_checking.grader import reference as network
from . import reference

#: The fixed data behind "lab.network.cost": a draw that no exercise of the notebook uses.
_NETWORK_RNG = np.random.default_rng(505)
NETWORK_X = _NETWORK_RNG.standard_normal((4, 6))
NETWORK_Y = np.array([[1.0, 0.0, 0.0, 1.0, 1.0, 0.0]])

network_cost = reference.network_cost(NETWORK_X, NETWORK_Y)
network_gradient = reference.network_gradient(NETWORK_X, NETWORK_Y)


def _curve(cost, gradient):
    def error_curve(theta, epsilons):
        return reference.error_curve(cost, gradient, np.asarray(theta, dtype=np.float64), list(epsilons))
    return error_curve


def gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7, print_msg=False):
    """The first assignment's checker (print_msg is accepted and ignored)."""
    return network.gradient_check_n(parameters, gradients, X, Y, epsilon)


def block_differences(parameters, gradients, X, Y, epsilon=1e-6):
    return reference.block_differences(parameters, gradients, X, Y, epsilon)


#: Mask draws so far in this judged call, per input digest. The real helper draws afresh on every
#: call without masks, so the stand-in must too: the first draw for given inputs is the one the
#: hidden cases certified, and a second draw for the same inputs (a backward pass taken from a
#: second forward pass, say) gets other masks, as it would in the student's notebook.
_DRAWS: dict[bytes, int] = {}


def new_call() -> None:
    """Start a judged call: no masks drawn yet."""
    _DRAWS.clear()


def forward_with_dropout(X, Y, parameters, keep_prob, masks=None):
    """Without masks, a fresh pair for every call (see _DRAWS), like a new random draw per pass."""
    if masks is None:
        key = reference.mask_key(X, parameters, keep_prob)
        draw = _DRAWS[key] = _DRAWS.get(key, -1) + 1
        masks = reference.seeded_masks(X, parameters, keep_prob, draw)
    return reference.forward_with_dropout(X, Y, parameters, keep_prob, masks)


def backward_with_dropout(X, Y, cache, keep_prob):
    return reference.backward_with_dropout(X, Y, cache, keep_prob)


def backward_with_dropout_no_rescale(X, Y, cache, keep_prob):
    """A planted bug: the masks are applied but the 1 / keep_prob of inverted dropout is forgotten."""
    return reference.backward_with_dropout(X, Y, cache, keep_prob, rescale=False)


DEPENDENCIES: dict[str, Callable] = {
    # the helpers of lab_utils.py, in their trusted versions
    "lab.dictionary_to_vector": network.dictionary_to_vector,
    "lab.vector_to_dictionary": network.vector_to_dictionary,
    "lab.gradients_to_vector": network.gradients_to_vector,
    "lab.relative_difference": network.relative_difference,
    "lab.forward_propagation_n": network.forward_propagation_n,
    "lab.backward.correct": network.backward_propagation_n,
    "lab.backward.clipped_W3": reference.clipped_W3_backward,
    "lab.gradient_check_n": gradient_check_n,
    # 1. choosing epsilon: known costs and their error curves
    "lab.cube.cost": reference.cube_cost,
    "lab.cube.gradient": reference.cube_gradient,
    "lab.wave.cost": reference.wave_cost,
    "lab.wave.gradient": reference.wave_gradient,
    "lab.network.cost": network_cost,
    "lab.network.gradient": network_gradient,
    "lab.error_curve.cube": _curve(reference.cube_cost, reference.cube_gradient),
    "lab.error_curve.wave": _curve(reference.wave_cost, reference.wave_gradient),
    "lab.error_curve.network": _curve(network_cost, network_gradient),
    # 2. look at the components
    "lab.block_differences": block_differences,
    **{f"lab.backward.{name}": backward for name, (backward, _, _) in reference.BUGGY_BACKWARDS.items()},
    # 3. not with dropout
    "lab.forward_with_dropout": forward_with_dropout,
    "lab.backward_with_dropout": backward_with_dropout,
    "lab.backward_with_dropout.no_rescale": backward_with_dropout_no_rescale,
}

#: The lab's names end in those of the network's functions, whose arguments are checked alike.
check_arguments = network_dependencies.check_arguments
