"""Helpers for the gradient-checking lab.

The 3-layer network of the first assignment (LINEAR -> RELU -> LINEAR -> RELU -> LINEAR ->
SIGMOID, 47 parameters) with its conversions and checker, the same network with inverted dropout,
two backward passes with hidden bugs, and a network of any size for timing. Read them when an
experiment surprises you: every function is short.
"""
import numpy as np

ORDER = ("W1", "b1", "W2", "b2", "W3", "b3")
SHAPES = {"W1": (5, 4), "b1": (5, 1), "W2": (3, 5), "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)}


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), elementwise."""
    return 1 / (1 + np.exp(-x))


def relu(x):
    """max(0, x), elementwise."""
    return np.maximum(0, x)


def gradient_check_n_test_case():
    """The classic test case: X (4, 3), Y (1, 3) and the six parameter blocks, from seed 1."""
    np.random.seed(1)
    x = np.random.randn(4, 3)
    y = np.array([[1.0, 1.0, 0.0]])
    parameters = {key: np.random.randn(*SHAPES[key]) for key in ORDER}
    return x, y, parameters


def training_data(seed, m=20, scale=0.3):
    """A small learnable problem: X (4, m), labels from a fixed rule, weights ~ scale * N(0, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((4, m))
    Y = (X[0] - 0.5 * X[1] + 0.8 * X[2] * X[3] > 0).astype(np.float64).reshape(1, m)
    parameters = {key: scale * rng.standard_normal(SHAPES[key]) for key in ORDER}
    return X, Y, parameters


# ---- parameters as one vector ------------------------------------------------------------------

def dictionary_to_vector(parameters):
    """(theta, keys): the six blocks flattened and stacked into a (47, 1) column, W1 first."""
    columns = [np.reshape(parameters[key], (-1, 1)) for key in ORDER]
    keys = [key for key, column in zip(ORDER, columns) for _ in range(column.shape[0])]
    return np.concatenate(columns, axis=0), keys


def vector_to_dictionary(theta):
    """The inverse of dictionary_to_vector: cut a (47, 1) column back into the six blocks."""
    parameters, start = {}, 0
    for key in ORDER:
        size = SHAPES[key][0] * SHAPES[key][1]
        parameters[key] = np.reshape(theta[start:start + size], SHAPES[key])
        start += size
    return parameters


def gradients_to_vector(gradients):
    """dW1, db1, ..., db3 stacked into a (47, 1) column, in the order of dictionary_to_vector."""
    return np.concatenate([np.reshape(gradients["d" + key], (-1, 1)) for key in ORDER], axis=0)


def relative_difference(grad, gradapprox):
    """||grad - gradapprox|| / (||grad|| + ||gradapprox||); 0 when both are zero."""
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(grad - gradapprox) / denominator)


# ---- the network -------------------------------------------------------------------------------

def forward_propagation_n(X, Y, parameters):
    """(cost, cache): the mean cross-entropy and (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)."""
    m = X.shape[1]
    W1, b1, W2, b2, W3, b3 = (parameters[key] for key in ORDER)
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)
    log_probs = np.multiply(-np.log(A3), Y) + np.multiply(-np.log(1 - A3), 1 - Y)
    cost = float(np.sum(log_probs) / m)
    return cost, (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)


def backward_propagation_n(X, Y, cache):
    """The gradients dW1, db1, ..., db3 (and dZ3, dA2, dZ2, dA1, dZ1) of the cost."""
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = np.dot(dZ3, A2.T) / m
    db3 = np.sum(dZ3, axis=1, keepdims=True) / m
    dA2 = np.dot(W3.T, dZ3)
    dZ2 = dA2 * (A2 > 0)
    dW2 = np.dot(dZ2, A1.T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dA1 = np.dot(W2.T, dZ2)
    dZ1 = dA1 * (A1 > 0)
    dW1 = np.dot(dZ1, X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2, "db2": db2,
            "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}


def gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7, print_msg=False):
    """The first assignment's checker: the relative difference of the whole gradient."""
    theta, _ = dictionary_to_vector(parameters)
    grad = gradients_to_vector(gradients)
    gradapprox = np.zeros_like(theta)
    for i in range(theta.shape[0]):
        theta_plus, theta_minus = np.copy(theta), np.copy(theta)
        theta_plus[i] += epsilon
        theta_minus[i] -= epsilon
        J_plus, _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_plus))
        J_minus, _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_minus))
        gradapprox[i] = (J_plus - J_minus) / (2 * epsilon)
    difference = relative_difference(grad, gradapprox)
    if print_msg:
        verdict = "correct" if difference < 1e-7 else "wrong"
        print(f"The gradient looks {verdict}: difference = {difference:.3g}")
    return difference


# ---- two backward passes with a hidden bug -----------------------------------------------------

def backward_propagation_n_mystery(X, Y, cache):
    """A backward pass with one bug somewhere. Find the block first, then the line."""
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = np.dot(dZ3, A2.T) / m
    db3 = np.sum(dZ3, axis=1, keepdims=True) / m
    dA2 = np.dot(W3.T, dZ3)
    dZ2 = dA2 * (A2 > 0)
    dW2 = np.dot(dZ2, A1.T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dA1 = np.dot(W2.T, dZ2)
    dZ1 = dA1
    dW1 = np.dot(dZ1, X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW3": dW3, "db3": db3, "dW2": dW2, "db2": db2, "dW1": dW1, "db1": db1}


def backward_propagation_n_clipped(X, Y, cache):
    """A backward pass that propagates through W3 clipped to [-1, 1].

    Clipping belongs to a max-norm constraint on the update; here it slipped into the gradient.
    While every weight of W3 is inside [-1, 1] the gradient is exactly right.
    """
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    clipped = (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, np.clip(W3, -1, 1), b3)
    return backward_propagation_n(X, Y, clipped)


# ---- the network with inverted dropout ---------------------------------------------------------

_dropout_rng = np.random.default_rng(2024)


def forward_with_dropout(X, Y, parameters, keep_prob, masks=None):
    """(cost, cache) of the network with inverted dropout on both hidden layers.

    masks -- (D1, D2), arrays of 0.0 (dropped) and 1.0 (kept) shaped like A1 (5, m) and A2 (3, m);
             None draws new ones, as training does in every forward pass.
    cache -- a dict with Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3.
    """
    m = X.shape[1]
    if masks is None:
        masks = ((_dropout_rng.random((5, m)) < keep_prob).astype(np.float64),
                 (_dropout_rng.random((3, m)) < keep_prob).astype(np.float64))
    D1, D2 = masks
    W1, b1, W2, b2, W3, b3 = (parameters[key] for key in ORDER)
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1) * D1 / keep_prob
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2) * D2 / keep_prob
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)
    cost = float(np.sum(np.multiply(-np.log(A3), Y) + np.multiply(-np.log(1 - A3), 1 - Y)) / m)
    cache = {"Z1": Z1, "D1": D1, "A1": A1, "W1": W1, "b1": b1, "Z2": Z2, "D2": D2, "A2": A2,
             "W2": W2, "b2": b2, "Z3": Z3, "A3": A3, "W3": W3, "b3": b3}
    return cost, cache


def backward_with_dropout(X, Y, cache, keep_prob):
    """The gradients of forward_with_dropout, for the masks stored in its cache."""
    m = X.shape[1]
    dZ3 = cache["A3"] - Y
    dW3 = np.dot(dZ3, cache["A2"].T) / m
    db3 = np.sum(dZ3, axis=1, keepdims=True) / m
    dA2 = np.dot(cache["W3"].T, dZ3) * cache["D2"] / keep_prob
    dZ2 = dA2 * (cache["A2"] > 0)
    dW2 = np.dot(dZ2, cache["A1"].T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dA1 = np.dot(cache["W2"].T, dZ2) * cache["D1"] / keep_prob
    dZ1 = dA1 * (cache["A1"] > 0)
    dW1 = np.dot(dZ1, X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dW3": dW3, "db3": db3}


# ---- a network of any size, for timing ---------------------------------------------------------

def initialize_deep(layer_dims, seed=0):
    """Weights W1 ... WL ~ N(0, 1/n_in) and small biases for layers of sizes layer_dims."""
    rng = np.random.default_rng(seed)
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters[f"W{l}"] = rng.standard_normal((layer_dims[l], layer_dims[l - 1])) / np.sqrt(layer_dims[l - 1])
        parameters[f"b{l}"] = 0.1 * rng.standard_normal((layer_dims[l], 1))
    return parameters


def forward_deep(X, Y, parameters):
    """(cost, activations): RELU hidden layers, a SIGMOID output, mean cross-entropy."""
    L = len(parameters) // 2
    A, activations = X, [X]
    for l in range(1, L + 1):
        Z = np.dot(parameters[f"W{l}"], A) + parameters[f"b{l}"]
        A = sigmoid(Z) if l == L else relu(Z)
        activations.append(A)
    cost = float(np.mean(-Y * np.log(A) - (1 - Y) * np.log(1 - A)))
    return cost, activations


def backward_deep(X, Y, parameters, activations):
    """The gradients {"dW1": ..., "db1": ..., ...} of forward_deep's cost."""
    L, m = len(parameters) // 2, X.shape[1]
    gradients = {}
    dZ = activations[L] - Y
    for l in range(L, 0, -1):
        gradients[f"dW{l}"] = np.dot(dZ, activations[l - 1].T) / m
        gradients[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
        if l > 1:
            dZ = np.dot(parameters[f"W{l}"].T, dZ) * (activations[l - 1] > 0)
    return gradients


def gradient_check_deep(parameters, gradients, X, Y, epsilon=1e-5):
    """(difference, forward_passes): a full two-sided check of forward_deep, counting its passes."""
    grad, approx, passes = [], [], 0
    for key, block in parameters.items():
        for index in np.ndindex(block.shape):
            saved = block[index]
            block[index] = saved + epsilon
            J_plus, _ = forward_deep(X, Y, parameters)
            block[index] = saved - epsilon
            J_minus, _ = forward_deep(X, Y, parameters)
            block[index] = saved
            passes += 2
            approx.append((J_plus - J_minus) / (2 * epsilon))
            grad.append(gradients["d" + key][index])
    return relative_difference(np.array(grad), np.array(approx)), passes
