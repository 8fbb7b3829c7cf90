"""Helpers for the gradient-checking assignment: activations and the classic test case."""
import numpy as np


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
    W1 = np.random.randn(5, 4)
    b1 = np.random.randn(5, 1)
    W2 = np.random.randn(3, 5)
    b2 = np.random.randn(3, 1)
    W3 = np.random.randn(1, 3)
    b3 = np.random.randn(1, 1)
    parameters = {"W1": W1, "b1": b1, "W2": W2, "b2": b2, "W3": W3, "b3": b3}
    return x, y, parameters
