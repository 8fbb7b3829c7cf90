"""Reference of gradient_checking_lab: the answers its hidden checks compare against (trusted side).

The lab turns the four pieces of practical advice into experiments. Each section below is the
trusted version of one experiment's graded functions, plus the networks and planted bugs the
hidden cases use. Pure numpy, float64 throughout; nothing here runs in a student's process
except through the named dependencies in dependencies.py.
"""
from __future__ import annotations

import hashlib

import numpy as np

from autograder.grading.numerics import central_difference, nudged_costs, relative_difference
from autograder.grading.tolerances import THRESHOLD

from ...gradient_checking.grader import reference as network

#: The order backpropagation computes the gradient blocks in: from the output back to the input.
BACKPROP_ORDER = ("dW3", "db3", "dW2", "db2", "dW1", "db1")


# ---- 1. Choosing epsilon -------------------------------------------------------------------

#: The two difference quotients, from J(θ+ε), J(θ), J(θ−ε) and ε.
QUOTIENTS = {
    "one-sided": lambda J_plus, J, J_minus, eps: (J_plus - J) / eps,
    "two-sided": lambda J_plus, J, J_minus, eps: (J_plus - J_minus) / (2 * eps),
}


def difference_curve(cost, gradient, theta, epsilons, quotient, measure=relative_difference):
    """measure(grad, gradapprox) for each epsilon, gradapprox from quotient on every component."""
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(gradient(theta), dtype=np.float64)
    J = cost(theta)
    errors = np.zeros(len(epsilons))
    for k, epsilon in enumerate(epsilons):
        J_plus, J_minus = nudged_costs(cost, theta, epsilon)
        errors[k] = measure(grad, quotient(J_plus, J, J_minus, epsilon))
    return errors


def error_curve(cost, gradient, theta, epsilons):
    """(one_sided, two_sided): relative difference of each difference quotient, for each epsilon.

    cost(theta) -> float and gradient(theta) -> array shaped like theta; theta is a column.
    one_sided uses (J(θ+ε e_i) − J(θ)) / ε, two_sided (J(θ+ε e_i) − J(θ−ε e_i)) / 2ε.
    """
    return tuple(difference_curve(cost, gradient, theta, epsilons, QUOTIENTS[side])
                 for side in ("one-sided", "two-sided"))


#: Mistakes in an error curve, computed exactly, to name them in feedback: hint -> (quotient, measure).
CURVE_MISTAKES = {
    "the two-sided quotient divides by ε; the two points are 2ε apart":
        (lambda Jp, J, Jm, e: (Jp - Jm) / e, relative_difference),
    "the one-sided quotient divides by 2ε; J(θ+ε) and J(θ) are ε apart":
        (lambda Jp, J, Jm, e: (Jp - J) / (2 * e), relative_difference),
    "that is the backward difference (J(θ) − J(θ−ε)) / ε; the one-sided one here is (J(θ+ε) − J(θ)) / ε":
        (lambda Jp, J, Jm, e: (J - Jm) / e, relative_difference),
    "that is the absolute error ‖grad − gradapprox‖; divide by ‖grad‖ + ‖gradapprox‖ (relative_difference)":
        (QUOTIENTS["two-sided"], lambda g, a: float(np.linalg.norm(g - a))),
    "that is the absolute error ‖grad − gradapprox‖ of the one-sided quotient; divide by ‖grad‖ + ‖gradapprox‖":
        (QUOTIENTS["one-sided"], lambda g, a: float(np.linalg.norm(g - a))),
}


def best_epsilon(epsilons, one_sided, two_sided):
    """The epsilon of smallest error for each curve: (best for one-sided, best for two-sided)."""
    epsilons = np.asarray(epsilons, dtype=np.float64)
    return float(epsilons[np.argmin(one_sided)]), float(epsilons[np.argmin(two_sided)])


def cube_cost(theta):
    """f(θ) = Σ θ³: its one- and two-sided differences have errors of slope 1 and 2."""
    return float(np.sum(np.asarray(theta, dtype=np.float64) ** 3))


def cube_gradient(theta):
    return 3 * np.asarray(theta, dtype=np.float64) ** 2


def wave_cost(theta):
    """A smooth cost of several parameters: Σ sin(2θ) + θ³ / 10."""
    theta = np.asarray(theta, dtype=np.float64)
    return float(np.sum(np.sin(2 * theta) + theta ** 3 / 10))


def wave_gradient(theta):
    theta = np.asarray(theta, dtype=np.float64)
    return 2 * np.cos(2 * theta) + 3 * theta ** 2 / 10


def network_cost(X, Y):
    """The network's cost as a function of the (47, 1) column θ, for fixed data."""
    return lambda theta: float(network.forward_propagation_n(X, Y, network.vector_to_dictionary(theta))[0])


def network_gradient(X, Y):
    """Backpropagation's gradient as a (47, 1) column, for fixed data."""
    def gradient(theta):
        _, cache = network.forward_propagation_n(X, Y, network.vector_to_dictionary(theta))
        return network.gradients_to_vector(network.backward_propagation_n(X, Y, cache))
    return gradient


# ---- 2. Look at the components -------------------------------------------------------------

def numerical_gradient(parameters, X, Y, epsilon, forward=network.forward_propagation_n):
    """The two-sided difference of forward's cost, one component at a time, as a (47, 1) column.

    The loop (not the batched version) on purpose: it computes every cost exactly as a
    student's loop does, so block differences agree to the last digits that matter.
    """
    theta, _ = network.dictionary_to_vector(parameters)
    cost = lambda t: float(np.squeeze(forward(X, Y, network.vector_to_dictionary(t))[0]))
    return central_difference(cost, theta, epsilon)


def block_differences(parameters, gradients, X, Y, epsilon, forward=network.forward_propagation_n):
    """{"dW1": d, ..., "db3": d}: the relative difference of each block of the gradient."""
    grad = network.gradients_to_vector(gradients)
    return network.block_differences(grad, numerical_gradient(parameters, X, Y, epsilon, forward))


def locate_bug(differences, threshold=THRESHOLD):
    """The first block, in the order backprop computes them, whose difference is above threshold."""
    for key in BACKPROP_ORDER:
        if differences[key] > threshold:
            return key
    return None


def _backward_with(X, Y, cache, change):
    """The reference backward pass with one line replaced: change(name, value, locals) -> value."""
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    v = {}
    v["dZ3"] = change("dZ3", A3 - Y, v)
    v["dW3"] = change("dW3", v["dZ3"] @ A2.T / m, v)
    v["db3"] = change("db3", np.sum(v["dZ3"], axis=1, keepdims=True) / m, v)
    v["dA2"] = change("dA2", W3.T @ v["dZ3"], v)
    v["dZ2"] = change("dZ2", v["dA2"] * (A2 > 0), v)
    v["dW2"] = change("dW2", v["dZ2"] @ A1.T / m, v)
    v["db2"] = change("db2", np.sum(v["dZ2"], axis=1, keepdims=True) / m, v)
    v["dA1"] = change("dA1", W2.T @ v["dZ2"], v)
    v["dZ1"] = change("dZ1", v["dA1"] * (A1 > 0), v)
    v["dW1"] = change("dW1", v["dZ1"] @ X.T / m, v)
    v["db1"] = change("db1", np.sum(v["dZ1"], axis=1, keepdims=True) / m, v)
    return v


def _bug(line, replace):
    """A backward pass whose `line` is computed by replace(correct value, X, cache, values)."""
    def backward(X, Y, cache):
        return _backward_with(X, Y, cache,
                              lambda name, value, v: replace(value, X, cache, v) if name == line else value)
    return backward


#: Planted bugs for "look at the components": name -> (backward pass, the block that shows it
#: first in backprop order, what the bug is). A bug early in backprop spreads to every block
#: computed after it, so the first disagreeing block is the one nearest the bug.
BUGGY_BACKWARDS = {
    "dW3_no_mean": (_bug("dW3", lambda val, X, c, v: v["dZ3"] @ c[5].T), "dW3",
                    "dW3 = dZ3 A2ᵀ without the 1/m"),
    "db3_sign": (_bug("db3", lambda val, X, c, v: -val), "db3", "db3 with the wrong sign"),
    "dZ2_no_relu_mask": (_bug("dZ2", lambda val, X, c, v: v["dA2"]), "dW2",
                         "dZ2 = dA2 without the ReLU mask (A2 > 0)"),
    "db2_doubled": (_bug("db2", lambda val, X, c, v: 2 * val), "db2", "db2 twice too large"),
    "dZ1_no_relu_mask": (_bug("dZ1", lambda val, X, c, v: v["dA1"]), "dW1",
                         "dZ1 = dA1 without the ReLU mask (A1 > 0)"),
    "db1_no_mean": (_bug("db1", lambda val, X, c, v: np.sum(v["dZ1"], axis=1, keepdims=True)), "db1",
                    "db1 summed over the examples but not divided by m"),
}


def classic_bugs_backward(X, Y, cache):
    """The first assignment's planted bugs: dW2 doubled and db1 times four."""
    gradients = network.backward_propagation_n(X, Y, cache)
    gradients["dW2"] = gradients["dW2"] * 2
    gradients["db1"] = gradients["db1"] * 4
    return gradients


BUGGY_BACKWARDS["classic"] = (classic_bugs_backward, "dW2", "dW2 doubled and db1 four times too large")


def _bugs(replacements):
    """A backward pass with several lines wrong: {line: replace(correct value, X, cache, values)}."""
    def backward(X, Y, cache):
        return _backward_with(X, Y, cache, lambda name, value, v: replacements[name](value, X, cache, v)
                              if name in replacements else value)
    return backward


# Several faults whose first block in backprop order is neither the first in the dict's order
# (W1, b1, ...) nor in sorted order (dW1, dW2, dW3, db1, ...): only backprop order finds it.
BUGGY_BACKWARDS["db3_sign_and_dW2_doubled"] = (
    _bugs({"db3": lambda val, X, c, v: -val, "dW2": lambda val, X, c, v: 2 * val}), "db3",
    "db3 with the wrong sign and dW2 twice too large")
BUGGY_BACKWARDS["db2_doubled_and_dW1_halved"] = (
    _bugs({"db2": lambda val, X, c, v: 2 * val, "dW1": lambda val, X, c, v: val / 2}), "db2",
    "db2 twice too large and dW1 half what it should be")


# ---- 3. Not with dropout -------------------------------------------------------------------

def draw_masks(X, keep_prob, rng):
    """Inverted-dropout masks of the two hidden layers: 1.0 keeps a unit, 0.0 drops it."""
    m = X.shape[1]
    D1 = (rng.random((5, m)) < keep_prob).astype(np.float64)
    D2 = (rng.random((3, m)) < keep_prob).astype(np.float64)
    return D1, D2


def mask_key(X, parameters, keep_prob) -> bytes:
    """A digest of a forward pass's inputs (the seed of its masks)."""
    digest = hashlib.sha256(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    for key in network.PARAM_KEYS:
        digest.update(np.ascontiguousarray(parameters[key], dtype=np.float64).tobytes())
    digest.update(repr(float(keep_prob)).encode())
    return digest.digest()


def seeded_masks(X, parameters, keep_prob, draw: int = 0):
    """Masks drawn from a seed that hashes the inputs: fixed for fixed inputs, new for any nudge,
    and new for each further `draw` with the same inputs (the hidden cases certify draw 0).

    Stands in for "a new random mask in every forward pass" so that the trusted forward pass
    answers the same sequence of calls the same way in any process.
    """
    digest = hashlib.sha256(mask_key(X, parameters, keep_prob))
    if draw:
        digest.update(f"draw {int(draw)}".encode())
    return draw_masks(X, keep_prob, np.random.default_rng(int.from_bytes(digest.digest()[:8], "big")))


def forward_with_dropout(X, Y, parameters, keep_prob, masks):
    """The network with inverted dropout on both hidden layers, for given masks (D1, D2).

    Returns (cost, cache) with cache a dict: Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3.
    """
    D1, D2 = (np.asarray(d, dtype=np.float64) for d in masks)
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in network.PARAM_KEYS)
    Z1 = W1 @ X + b1
    A1 = network.relu(Z1) * D1 / keep_prob
    Z2 = W2 @ A1 + b2
    A2 = network.relu(Z2) * D2 / keep_prob
    Z3 = W3 @ A2 + b3
    A3 = network.sigmoid(Z3)
    cost = float(network.cost_from_activations(A3, Y))
    cache = {"Z1": Z1, "D1": D1, "A1": A1, "W1": W1, "b1": b1, "Z2": Z2, "D2": D2, "A2": A2,
             "W2": W2, "b2": b2, "Z3": Z3, "A3": A3, "W3": W3, "b3": b3}
    return cost, cache


def backward_with_dropout(X, Y, cache, keep_prob, rescale=True):
    """Exact gradients of forward_with_dropout for the masks in the cache."""
    m = X.shape[1]
    scale = 1 / keep_prob if rescale else 1.0
    dZ3 = cache["A3"] - Y
    dW3 = dZ3 @ cache["A2"].T / m
    db3 = np.sum(dZ3, axis=1, keepdims=True) / m
    dA2 = cache["W3"].T @ dZ3 * cache["D2"] * scale
    dZ2 = dA2 * (cache["A2"] > 0)
    dW2 = dZ2 @ cache["A1"].T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dA1 = cache["W2"].T @ dZ2 * cache["D1"] * scale
    dZ1 = dA1 * (cache["A1"] > 0)
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dW3": dW3, "db3": db3}


def dropout_gradient_check(parameters, X, Y, keep_prob, epsilon, masks, backward=backward_with_dropout):
    """The relative difference of backward's gradient, for the masks given, held fixed."""
    _, cache = forward_with_dropout(X, Y, parameters, keep_prob, masks)
    grad = network.gradients_to_vector(backward(X, Y, cache, keep_prob))
    forward = lambda X_, Y_, p: forward_with_dropout(X_, Y_, p, keep_prob, masks)
    return relative_difference(grad, numerical_gradient(parameters, X, Y, epsilon, forward))


def dropout_logits(X, parameters, keep_prob, masks):
    """Z3 only: a saturated draw's log(0) in the cost is not worth a warning (it is rejected)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return forward_with_dropout(X, np.zeros((1, X.shape[1])), parameters, keep_prob, masks)[1]["Z3"]


# ---- 4. At initialisation and after some training ------------------------------------------

#: A bug that hides while the weights are small: the backward pass propagates through a copy of
#: W3 clipped to [-1, 1] (a max-norm constraint that belongs in the update, not the gradient).
CLIP = 1.0


def clipped_W3_backward(X, Y, cache):
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    return network.backward_propagation_n(X, Y, (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3,
                                           np.clip(W3, -CLIP, CLIP), b3))


def check_during_training(parameters, X, Y, learning_rate, num_iterations, check_every, epsilon,
                          backward=network.backward_propagation_n, forward=network.forward_propagation_n):
    """Gradient descent with a gradient check at iterations 0, check_every, 2 check_every, ...

    Each iteration: forward, backward, the check when i % check_every == 0 (on the parameters
    before this iteration's update), then θ ← θ − learning_rate · dθ.
    Returns (differences, parameters after num_iterations updates, largest |Z3| seen).
    """
    parameters = {k: np.array(v, dtype=np.float64) for k, v in parameters.items()}
    differences, largest_logit = [], 0.0
    for i in range(num_iterations):
        _, cache = forward(X, Y, parameters)
        largest_logit = max(largest_logit, float(np.max(np.abs(cache[8]))))
        gradients = backward(X, Y, cache)
        if i % check_every == 0:
            differences.append(network.gradient_check_n(parameters, gradients, X, Y, epsilon, forward=forward))
        for key in network.PARAM_KEYS:
            parameters[key] = parameters[key] - learning_rate * gradients["d" + key]
    return differences, parameters, largest_logit


def training_data(seed, m=20, scale=0.3):
    """A small, learnable problem: 4 features, labels from a fixed rule, weights ~ scale·N(0, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((4, m))
    Y = (X[0] - 0.5 * X[1] + 0.8 * X[2] * X[3] > 0).astype(np.float64).reshape(1, m)
    parameters = {k: scale * rng.standard_normal(network.PARAM_SHAPES[k]) for k in network.PARAM_KEYS}
    return X, Y, parameters


# ---- 5. Not in training --------------------------------------------------------------------

def count_parameters(layer_dims):
    """Weights and biases of a fully connected network with these layer sizes."""
    return int(sum(n_out * n_in + n_out for n_in, n_out in zip(layer_dims[:-1], layer_dims[1:])))


def forward_passes_per_check(layer_dims):
    """A full two-sided check costs two forward passes per parameter."""
    return 2 * count_parameters(layer_dims)
