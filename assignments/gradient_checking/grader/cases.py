"""Hidden test cases of gradient_checking: draws from the course secret, each verified before
use (trusted side).

A case for the network is used only if the reference can certify it: no ReLU changes sign
within the step (the cost is smooth there), no saturated sigmoid (the log stays accurate), and
the reference's own analytic gradient clears the threshold by 100x at the chosen step.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from autograder.grading.numerics import relative_difference
from autograder.grading.secret import course_secret, hidden_rng
from autograder.grading.tolerances import Tolerances

from . import reference

#: A case is certified only if a correct backward pass clears the threshold by this factor.
SAFETY_MARGIN = 100.0
#: |Z3| above this makes 1 - sigmoid(Z3) lose too many digits for a trustworthy log.
MAX_LOGIT = 12.0


@dataclass
class NetworkCase:
    """Inputs of one network check, plus what the reference knows about them."""
    name: str
    X: np.ndarray
    Y: np.ndarray
    parameters: dict
    epsilon: float = reference.REFERENCE_EPSILON
    reference_difference: float = float("nan")
    public: bool = False  # True when its inputs and answers are in the student's notebook
    notes: dict = field(default_factory=dict)

    def copy_parameters(self) -> dict:
        return {k: v.copy() for k, v in self.parameters.items()}


def classic_case() -> NetworkCase:
    """The classic assignment's test case: seed 1, four features, three examples."""
    rng = np.random.RandomState(1)
    X = rng.randn(4, 3)
    Y = np.array([[1.0, 1.0, 0.0]])
    parameters = {k: rng.randn(*reference.PARAM_SHAPES[k]) for k in reference.PARAM_KEYS}
    return NetworkCase("the classic test case (m=3)", X, Y, parameters, public=True)


def random_case(rng: np.random.Generator, m: int, scale: float = 1.0) -> NetworkCase:
    """A fresh draw: X ~ N(0, 1) with m examples, Y in {0, 1}, weights ~ scale * N(0, 1)."""
    X = rng.standard_normal((4, m))
    Y = rng.integers(0, 2, size=(1, m)).astype(np.float64)
    parameters = {k: scale * rng.standard_normal(reference.PARAM_SHAPES[k]) for k in reference.PARAM_KEYS}
    return NetworkCase(f"a hidden random draw with m={m} example{'s' if m != 1 else ''}", X, Y, parameters)


def activation_pattern(X, thetas):
    """Signs of Z1 and Z2 for each column of thetas, to see whether a step crosses a kink."""
    k = thetas.shape[1]
    blocks = reference.stacked_blocks(thetas)
    Z1 = blocks["W1"] @ X + blocks["b1"]
    Z2 = blocks["W2"] @ reference.relu(Z1) + blocks["b2"]
    return np.concatenate([(Z1 > 0).reshape(k, -1), (Z2 > 0).reshape(k, -1)], axis=1)


def certify(case: NetworkCase, tol: Tolerances = Tolerances()) -> NetworkCase | None:
    """Pick the best of the candidate steps for this case, or None when the case cannot be trusted."""
    epsilons, threshold = tol.epsilons, tol.threshold
    with np.errstate(divide="ignore", invalid="ignore"):  # a saturated draw's log(0): rejected next line
        _, cache = reference.forward_propagation_n(case.X, case.Y, case.parameters)
    if np.max(np.abs(cache[8])) > MAX_LOGIT:
        return None
    grad = reference.gradients_to_vector(reference.backward_propagation_n(case.X, case.Y, cache))
    theta, _ = reference.dictionary_to_vector(case.parameters)
    best = None
    for eps in epsilons:
        steps = eps * np.eye(reference.N_PARAMS)
        patterns = activation_pattern(case.X, np.hstack([theta, theta + steps, theta - steps]))
        if not (patterns == patterns[0]).all():
            continue
        diff = relative_difference(grad, reference.numerical_gradient_n(case.X, case.Y, case.parameters, eps))
        if best is None or diff < best[1]:
            best = (eps, diff)
    if best is None or best[1] * SAFETY_MARGIN > threshold:
        return None
    case.epsilon, case.reference_difference = best
    return case


def network_cases(tol: Tolerances = Tolerances(), secret: bytes | None = None) -> tuple[NetworkCase, ...]:
    """The certified hidden cases for the network: the classic one and draws of other sizes from
    the course secret (redrawn until certified)."""
    return _drawn_once(tol, course_secret() if secret is None else secret)


def draw_network_cases(tol: Tolerances, secret: bytes) -> tuple[NetworkCase, ...]:
    """network_cases drawn afresh (network_cases draws once per secret and keeps them)."""
    cases = [certify(classic_case(), tol)]
    for m in (1, 5, 8, 16):
        for attempt in range(50):
            case = certify(random_case(hidden_rng("gradient_checking", "network", m, attempt, secret=secret), m), tol)
            if case is not None:
                cases.append(case)
                break
    if any(c is None for c in cases):
        raise RuntimeError("a hidden network case could not be certified")
    return tuple(cases)


_drawn_once = functools.lru_cache(maxsize=2)(draw_network_cases)


def classic_buggy_gradients(case: NetworkCase) -> dict:
    """The classic assignment's planted bugs: dW2 doubled and db1 times four."""
    _, cache = reference.forward_propagation_n(case.X, case.Y, case.parameters)
    gradients = reference.backward_propagation_n(case.X, case.Y, cache)
    gradients["dW2"] = gradients["dW2"] * 2
    gradients["db1"] = gradients["db1"] * 4
    return gradients
