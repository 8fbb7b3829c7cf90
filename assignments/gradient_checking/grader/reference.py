"""Reference of gradient_checking: the nine assignment functions and the network's checks (trusted side).

Pure numpy, float64 throughout. These are the answers the judge compares against; they never
run inside a student's process.
"""
from __future__ import annotations

import numpy as np

from autograder.grading.numerics import DEFAULT_EPSILON, central_difference, relative_difference
from autograder.grading import numerics

#: Parameter blocks of the 3-layer network, in the order theta is flattened (contract).
PARAM_SHAPES: dict[str, tuple[int, int]] = {
    "W1": (5, 4), "b1": (5, 1),
    "W2": (3, 5), "b2": (3, 1),
    "W3": (1, 3), "b3": (1, 1),
}
PARAM_KEYS = tuple(PARAM_SHAPES)
GRAD_KEYS = tuple("d" + k for k in PARAM_KEYS)
N_PARAMS = sum(r * c for r, c in PARAM_SHAPES.values())  # 47


def _block_slices() -> dict[str, slice]:
    slices, start = {}, 0
    for key, (rows, cols) in PARAM_SHAPES.items():
        slices[key] = slice(start, start + rows * cols)
        start += rows * cols
    return slices


#: Where each parameter block sits in the flattened vector theta (contract order).
BLOCK_SLICES = _block_slices()

#: The reference's step when a case names none (numerics.DEFAULT_EPSILON says why).
REFERENCE_EPSILON = DEFAULT_EPSILON


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def relu(x):
    return np.maximum(0, x)


# ---- the 1-D model -------------------------------------------------------------------------

def forward_propagation(x, theta):
    """J(theta) = theta * x."""
    return theta * x


def backward_propagation(x, theta):
    """dJ/dtheta = x."""
    return x


def gradient_check(x, theta, epsilon=1e-7, forward=forward_propagation, backward=backward_propagation):
    """Relative difference between backward(x, theta) and the two-sided difference of forward."""
    gradapprox = (forward(x, theta + epsilon) - forward(x, theta - epsilon)) / (2 * epsilon)
    grad = backward(x, theta)
    return relative_difference(grad, gradapprox)


# ---- the 3-layer network ------------------------------------------------------------------

#: The block each row of the (47, 1) column belongs to (the judge's cost functions flatten
#: parameters hundreds of times a notebook: worked out once).
VECTOR_KEYS = tuple(k for k in PARAM_KEYS for _ in range(int(np.prod(PARAM_SHAPES[k]))))


def dictionary_to_vector(parameters):
    """Stack W1, b1, W2, b2, W3, b3 into a (47, 1) column; keys names each row's block."""
    theta = np.concatenate([np.reshape(parameters[k], (-1, 1)) for k in PARAM_KEYS], axis=0)
    return theta.astype(np.float64), list(VECTOR_KEYS)


def vector_to_dictionary(theta):
    """Inverse of dictionary_to_vector."""
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    return {key: theta[where].reshape(PARAM_SHAPES[key]).copy() for key, where in BLOCK_SLICES.items()}


def gradients_to_vector(gradients):
    """Stack dW1, db1, dW2, db2, dW3, db3 into a (47, 1) column; other keys are ignored."""
    return np.concatenate([np.reshape(gradients[k], (-1, 1)) for k in GRAD_KEYS], axis=0).astype(np.float64)


def cost_from_activations(A3, Y):
    """Mean cross-entropy over the m examples (columns)."""
    m = Y.shape[-1]
    logprobs = np.multiply(-np.log(A3), Y) + np.multiply(-np.log(1 - A3), 1 - Y)
    return np.sum(logprobs, axis=(-2, -1)) / m


def forward_propagation_n(X, Y, parameters):
    """LINEAR->RELU->LINEAR->RELU->LINEAR->SIGMOID and the mean cross-entropy cost."""
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    Z1 = W1 @ X + b1
    A1 = relu(Z1)
    Z2 = W2 @ A1 + b2
    A2 = relu(Z2)
    Z3 = W3 @ A2 + b3
    A3 = sigmoid(Z3)
    cost = float(cost_from_activations(A3, Y))
    return cost, (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)


def backward_propagation_n(X, Y, cache):
    """Exact gradients of the mean cross-entropy with respect to every parameter block."""
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = dZ3 @ A2.T / m
    db3 = np.sum(dZ3, axis=1, keepdims=True) / m
    dA2 = W3.T @ dZ3
    dZ2 = dA2 * (A2 > 0)
    dW2 = dZ2 @ A1.T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dA1 = W2.T @ dZ2
    dZ1 = dA1 * (A1 > 0)
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
            "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}


def stacked_blocks(thetas) -> dict[str, np.ndarray]:
    """The parameter blocks of every column of thetas (47, K), each stacked as (K, rows, cols)."""
    thetas = np.asarray(thetas, dtype=np.float64)
    k = thetas.shape[1]
    return {key: thetas[where].T.reshape(k, *PARAM_SHAPES[key]) for key, where in BLOCK_SLICES.items()}


def batched_cost(X, Y, thetas):
    """Cost of the network for every column of thetas (47, K) at once: K forward passes in one."""
    blocks = stacked_blocks(thetas)
    A1 = relu(blocks["W1"] @ X + blocks["b1"])
    A2 = relu(blocks["W2"] @ A1 + blocks["b2"])
    A3 = sigmoid(blocks["W3"] @ A2 + blocks["b3"])
    return cost_from_activations(A3, Y)


def numerical_gradient_n(X, Y, parameters, epsilon=REFERENCE_EPSILON):
    """Two-sided difference of the cost for all 47 parameters: 2N perturbed costs in one batch."""
    theta, _ = dictionary_to_vector(parameters)
    return central_difference(lambda thetas: batched_cost(X, Y, thetas), theta, epsilon, batched=True)


def gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7, forward=forward_propagation_n):
    """Relative difference between the gradients dict and the two-sided difference of forward."""
    theta, _ = dictionary_to_vector(parameters)
    grad = gradients_to_vector(gradients)
    gradapprox = central_difference(
        lambda t: float(np.squeeze(forward(X, Y, vector_to_dictionary(t))[0])), theta, epsilon)
    return relative_difference(grad, gradapprox)


def block_differences(grad, gradapprox) -> dict[str, float]:
    """Relative difference of each parameter block of two (47, 1) columns."""
    return numerics.block_differences(grad, gradapprox, {"d" + key: where for key, where in BLOCK_SLICES.items()})
