"""Probing a gradient checker one part at a time, to name a mistake only once it is shown.

On both sides: the judge probes a checker that failed a hidden case with the kit's copy of
this module (trusted side), and the visible tests probe the student's own checker with the copy
`./kit release` puts beside them (numpy and the standard library only). Nothing here is secret:
the probes' inputs are the kit's own, and no hidden case's.

A checker has three parts: the perturbation loop (which points θ⁺ and θ⁻ the cost is evaluated
at), the quotient (gradapprox from those costs) and the relative difference of grad and
gradapprox. A probe call isolates one part:

- the loop: the checker's cost is a trusted stand-in that records every θ it is evaluated at
  (``recording``), so the points are seen, not inferred from a result;
- the quotient: a quadratic cost in small dyadic numbers, whose two-sided difference is exact in
  float64 and equals its slope w (a one-sided one does not), so a correct checker returns
  exactly 0 when given grad = w; grad = what a mistaken quotient would give then shows which;
- the formula: once gradapprox is shown to be w, grad = 3w and grad = w + u measure the
  relative difference alone.

The hints say what the probe showed. Where two causes give the same observation, the hint says
the observation and both causes, never one of them as a guess.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

#: The probes' step: a power of two, so θ ± ε and every cost below are exact in float64.
PROBE_EPSILON = 2.0 ** -6

#: What each finding tells the student; the one home of these texts (messages.toml quotes them).
HINTS = {
    "epsilon_ignored": "θ is not nudged by the epsilon it is given: θ⁺ and θ⁻ moved by another step; "
                       "use the epsilon argument (θ + epsilon, θ − epsilon)",
    "all_at_once": "every component of θ is nudged at once (θ + ε on all of them): in iteration i nudge "
                   "component i alone, theta_plus[i] = theta_plus[i] + epsilon",
    "theta_aliased": "θ⁺ shares memory with θ (theta_plus = theta without np.copy): each +ε stays in θ, so "
                     "later nudges start from a moved θ; make theta_plus = np.copy(theta) in every iteration",
    "copy_outside_loop": "θ⁺ and θ⁻ are copied once, before the loop: each iteration's nudge adds to the "
                         "earlier ones; copy θ afresh inside the loop, before each nudge",
    "nudges_accumulate": "the nudges of earlier iterations stay in θ⁺ or θ⁻ (some evaluations move several "
                         "components): start θ⁺ and θ⁻ from a fresh copy of θ (np.copy) in every iteration",
    "same_component": "every iteration nudges the same component of θ: in iteration i nudge component i "
                      "(theta_plus[i], theta_minus[i])",
    "components_skipped": "not every component of θ is nudged: the loop must nudge each component i once "
                          "up (θ + ε e_i) and once down (θ − ε e_i)",
    "minus_at_theta": "J_minus is evaluated at θ itself, not at θ − ε e_i: θ⁻ has no nudge (built from θ⁺, "
                      "θ⁺ − ε is θ again; or its − ε is missing). Build θ⁻ from a copy of θ",
    "minus_at_plus": "J_minus is evaluated at θ⁺ (θ + ε e_i), not at θ − ε e_i: take J_minus at theta_minus",
    "plus_missing": "J_plus is never evaluated at θ + ε e_i: take J_plus at theta_plus = θ with component i "
                    "nudged up",
    "one_sided": "a one-sided difference (J(θ+ε) − J(θ)) / ε: on a quadratic probe cost, where the "
                 "one-sided and two-sided differences disagree, its gradapprox is exactly the one-sided one; "
                 "use the two-sided (J(θ+ε) − J(θ−ε)) / 2ε",
    "eps_not_2eps": "dividing by ε instead of 2ε: on a probe its gradapprox is exactly twice the "
                    "true slope; the two points are 2ε apart",
    "plus_for_minus": "J(θ+ε) + J(θ−ε) in gradapprox; the numerator subtracts: J(θ+ε) − J(θ−ε)",
    "missing_parentheses": "J_plus − J_minus / (2ε): only J_minus is divided; write (J_plus − J_minus) / (2ε)",
    "grad_at_nudged": "grad is taken at θ+ε (or θ−ε) instead of θ: use backward_propagation(x, theta)",
    "grad_at_other": "backward_propagation is called at another point than θ (gradapprox, say): grad is "
                     "backward_propagation(x, theta)",
    "grad_not_from_backward": "backward_propagation is never called: take grad = backward_propagation(x, theta), "
                              "not a derivative written into the checker",
    "quotient_other": "θ⁺ and θ⁻ are right, but gradapprox is not (J_plus − J_minus) / (2ε) of them, or the "
                      "numerator of the difference is not ‖grad − gradapprox‖: on a probe (exact in "
                      "float64) with grad equal to the true slope it does not return 0",
    "squared_norms": "squared norms in the difference; use the plain 2-norms (np.linalg.norm)",
    "no_denominator": "no denominator; divide by ‖grad‖ + ‖gradapprox‖",
    "denominator_of_sum": "the denominator is ‖grad + gradapprox‖; it is ‖grad‖ + ‖gradapprox‖",
    "denominator_grad_only": "the denominator is ‖grad‖ alone; it is ‖grad‖ + ‖gradapprox‖",
    "denominator_approx_only": "the denominator is ‖gradapprox‖ alone; it is ‖grad‖ + ‖gradapprox‖",
    "numerator_of_norms": "the numerator is ‖grad‖ − ‖gradapprox‖ (a difference of norms); it is the norm "
                          "of the difference, ‖grad − gradapprox‖",
    "numerator_without_norm": "the numerator is grad − gradapprox without a norm (it can be negative); take "
                              "np.linalg.norm(grad − gradapprox)",
    "formula_other": "gradapprox is right (shown on a probe), but the relative difference is not "
                     "‖grad − gradapprox‖ / (‖grad‖ + ‖gradapprox‖): with grad = 3 × gradapprox it should "
                     "return 0.5",
    "parts_right": "its θ⁺ and θ⁻, its gradapprox and its relative difference are right on a probe "
                   "(a quadratic cost); what differs shows only on the failing case: check that grad and "
                   "gradapprox use the same θ and the same ε",
    "misaligned": "grad is built without gradients_to_vector, and grad and gradapprox do not line up "
                  "component by component (θ⁺ and θ⁻ are right, and it returns 0 when all components are "
                  "equal, not when they differ): either grad is not in θ's order dW1, db1, dW2, db2, dW3, "
                  "db3 (use gradients_to_vector), or gradapprox[i] is not stored at the component nudged",
    "misaligned_index": "gradapprox[i] is not stored at the component nudged in iteration i: θ⁺ and θ⁻ are "
                        "right, grad comes from gradients_to_vector, and it returns 0 when all components are "
                        "equal, not when they differ",
}

# ---- recording the points a cost is evaluated at ------------------------------------------

_local = threading.local()


@dataclass
class Recording:
    """What recording stand-ins saw during a probe: the θ of every cost evaluation, in order, and
    which other stand-ins were called (with the θ they were given, for a 1-D backward pass)."""
    points: list = field(default_factory=list)
    calls: dict = field(default_factory=dict)


@contextmanager
def recording():
    """Collect, in this thread, what recording stand-ins are called with (a Recording)."""
    previous = getattr(_local, "recording", None)
    _local.recording = Recording()
    try:
        yield _local.recording
    finally:
        _local.recording = previous


#: Most evaluations kept: far more than a checker of 47 parameters makes (94).
MAX_RECORDED = 10_000


def record(theta) -> None:
    """Called by a recording cost with the θ it was evaluated at (a no-op when not recording)."""
    seen = getattr(_local, "recording", None)
    if seen is not None and len(seen.points) < MAX_RECORDED:
        seen.points.append(np.array(theta, dtype=np.float64).reshape(-1))


def record_call(name: str, value=None) -> None:
    """Called by another recording stand-in: its name and, optionally, an argument it got."""
    seen = getattr(_local, "recording", None)
    if seen is not None and len(seen.calls.get(name, ())) < MAX_RECORDED:
        seen.calls.setdefault(name, []).append(value)


@contextmanager
def answering(value):
    """Make a 1-D backward stand-in answer `value` during a probe call, in this thread."""
    previous = getattr(_local, "answer", None)
    _local.answer = value
    try:
        yield
    finally:
        _local.answer = previous


def answer():
    """What a 1-D backward stand-in answers (see answering); 0.0 outside a probe."""
    value = getattr(_local, "answer", None)
    return 0.0 if value is None else value


# ---- the loop: which points were evaluated ------------------------------------------------

@dataclass(frozen=True)
class LoopReading:
    """What the points a checker evaluated say: a finding (a key of HINTS) or None when θ⁺ and θ⁻
    are right; base: the cost was also evaluated at θ itself."""
    finding: str | None
    base: bool = False


def read_loop(points: Sequence[np.ndarray], theta, eps: float) -> LoopReading | None:
    """Classify the evaluated points against θ ± ε e_i; None when no point was recorded."""
    if not len(points):
        return None
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    steps = (np.array([p for p in points if p.size == theta.size]) - theta) / eps
    if not len(steps):
        return None
    if not np.allclose(steps, np.round(steps), atol=1e-6) or np.abs(np.round(steps)).max() > len(theta) + 1:
        return LoopReading("epsilon_ignored")
    steps = np.round(steps).astype(int)
    moved = np.count_nonzero(steps, axis=1)
    base = bool((moved == 0).any())
    n = theta.size
    if n > 1 and (moved == n).any() and not ((moved > 1) & (moved < n)).any() and all(
            len(set(row)) == 1 for row in steps[moved == n]):
        return LoopReading("all_at_once", base)
    if (moved > 1).any():
        several = steps[moved > 1]
        if (several >= 0).all() and (steps >= 0).all():
            return LoopReading("theta_aliased", base)
        if all((row >= 0).all() or (row <= 0).all() for row in several) and (np.abs(steps) <= 1).all():
            return LoopReading("copy_outside_loop", base)
        return LoopReading("nudges_accumulate", base)
    single = steps[moved == 1]
    if (np.abs(single) > 1).any():
        return LoopReading("epsilon_ignored", base)
    index = np.argmax(np.abs(single), axis=1) if len(single) else np.array([], dtype=int)
    sign = single[np.arange(len(single)), index] if len(single) else np.array([], dtype=int)
    up, down = set(index[sign > 0].tolist()), set(index[sign < 0].tolist())
    if up | down and len(up | down) == 1 and n > 1:
        return LoopReading("same_component", base)
    everything = set(range(n))
    if up == everything and down == everything:
        return LoopReading(None, base)
    if up == everything and not down:
        counts = np.bincount(index[sign > 0], minlength=n)
        if (counts >= 2).all():
            return LoopReading("minus_at_plus", base)
        if base:
            return LoopReading("minus_at_theta", base)
    if not up and down == everything:
        return LoopReading("plus_missing", base)
    return LoopReading("components_skipped", base)


# ---- the formula: what the relative difference is -----------------------------------------

#: Relative differences a checker may be computing, as functions of (grad, gradapprox).
FORMULAS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "correct": lambda g, a: np.linalg.norm(g - a) / (np.linalg.norm(g) + np.linalg.norm(a)),
    "squared_norms": lambda g, a: np.sum((g - a) ** 2) / (np.sum(g ** 2) + np.sum(a ** 2)),
    "no_denominator": lambda g, a: np.linalg.norm(g - a),
    "denominator_of_sum": lambda g, a: np.linalg.norm(g - a) / np.linalg.norm(g + a),
    "denominator_grad_only": lambda g, a: np.linalg.norm(g - a) / np.linalg.norm(g),
    "denominator_approx_only": lambda g, a: np.linalg.norm(g - a) / np.linalg.norm(a),
    "numerator_without_norm": lambda g, a: np.sum(g - a) / (np.linalg.norm(g) + np.linalg.norm(a)),
    "numerator_of_norms": lambda g, a: abs(np.linalg.norm(g) - np.linalg.norm(a)) / (
        np.linalg.norm(g) + np.linalg.norm(a)),
}


def formula_probes(slope) -> list:
    """The grads the formula is measured with, gradapprox being slope: 3 × slope, and one that is
    not a positive multiple of it (so ‖g + a‖ and ‖g‖ + ‖a‖ differ): slope plus another vector,
    or for a single number, −2 × slope."""
    array = np.asarray(slope, dtype=np.float64)
    if array.size == 1:
        return [3 * slope, -2 * slope]
    other = np.zeros(array.size)
    other[::2] = 1.0
    return [3 * array, array + 2 * other.reshape(array.shape)]


def read_formula(slope: np.ndarray, returned: Sequence[float]) -> str | None:
    """The finding for a formula that returned `returned` for formula_probes(slope) with
    gradapprox = slope: None when it is the correct one, the one formula that matches every
    probe, or "formula_other"."""
    grads = formula_probes(slope)
    a = np.asarray(slope, dtype=np.float64).reshape(-1)

    def matches(name):
        return all(np.isclose(got, FORMULAS[name](g.reshape(-1), a), rtol=1e-9, atol=1e-12)
                   for got, g in zip(returned, grads))

    if matches("correct"):
        return None
    found = [name for name in FORMULAS if name != "correct" and matches(name)]
    return found[0] if len(found) == 1 else "formula_other"


def is_zero(value) -> bool:
    """A probe's result when grad equals gradapprox exactly: 0 (a few ulps allowed)."""
    return isinstance(value, float) and abs(value) <= 1e-12


# ---- the probes, part by part -------------------------------------------------------------

#: The flat cost's slope, the same for every component: a checker whose grad and gradapprox are
#: misaligned (another order) still returns 0 on it, as the order of equal numbers does not show.
FLAT_SLOPE = 0.5


@dataclass(frozen=True)
class Probe:
    """A checker ready to be probed at theta with step eps. cost is the trusted probe cost (a
    quadratic in small dyadic numbers, so its two-sided difference is exact in float64 and equals
    slope, its gradient at theta, while a one-sided one does not). call(grad, flat) runs the
    checker on that cost (flat: on the linear cost FLAT_SLOPE·Σθ instead), recording stand-ins in
    place, with `grad` (flat, in θ's order) as the gradient to check; it returns the checker's
    result, or None when the call failed or returned no number. grad_builder: the name a
    recording stand-in of the function that builds grad notes its calls under; grad_point: the
    name under which a 1-D backward pass notes the θ it was called at."""
    theta: np.ndarray
    eps: float
    cost: Callable[[np.ndarray], float]
    slope: np.ndarray
    call: Callable[[np.ndarray, bool], float | None]
    grad_builder: str | None = None
    grad_point: str | None = None


def linear_cost(slope, theta) -> float:
    """The linear cost slope·θ (exact for the probes' dyadic numbers)."""
    return float(np.dot(np.asarray(slope, dtype=np.float64).reshape(-1), np.asarray(theta).reshape(-1)))


def probe_point(n: int) -> np.ndarray:
    """The θ a checker of n parameters is probed at, a column: dyadic, with zero and negative
    components."""
    return np.array([(i - n // 2) / 8 for i in range(n)]).reshape(-1, 1)


def probe_weights(n: int) -> np.ndarray:
    """The w of the probe cost w·θ + ‖θ‖²/2, a column: distinct dyadic numbers of both signs, so
    the gradient w + θ at probe_point(n) has distinct components and their order shows."""
    return np.array([(-1) ** i * (i + 1) / 4 for i in range(n)]).reshape(-1, 1)


def quadratic_cost(theta) -> float:
    """w·θ + ‖θ‖²/2 with w = probe_weights: its two-sided differences at probe_point are exact."""
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    return linear_cost(probe_weights(theta.size), theta) + float(np.dot(theta, theta)) / 2


#: The 1-D probe: J = x·θ²/2 at x = PROBE_X and θ = PROBE_THETA, both dyadic; θ ± ε and the
#: slope x·θ are all distinct.
PROBE_X, PROBE_THETA = 1.25, -0.75


def quadratic_1d(x, theta):
    """J = x·θ²/2, the 1-D probe cost, recording the θ it is evaluated at."""
    record(theta)
    return x * theta * theta / 2


def answering_backward(x, theta):
    """The 1-D probe's dθ: the one the probe under way chose, noting the θ it was asked at."""
    record_call("backward", theta)
    return answer()


def _grad_point_finding(probe: Probe, seen: Recording) -> str | None:
    if seen.points and probe.grad_point not in seen.calls:
        return "grad_not_from_backward"
    points = [np.asarray(p, dtype=np.float64) for p in seen.calls.get(probe.grad_point, ())]
    theta = probe.theta.reshape(-1)
    wrong = [p for p in points if p.size != theta.size or not np.array_equal(p.reshape(-1), theta)]
    if not wrong:
        return None
    step = (wrong[0].reshape(-1) - theta) / probe.eps if wrong[0].size == theta.size else None
    if step is not None and np.allclose(np.abs(step), 1.0):
        return "grad_at_nudged"
    return "grad_at_other"


def _quotients(probe: Probe) -> dict:
    """What a mistaken quotient makes of the probe cost's exact values: {finding: gradapprox}."""
    theta, eps, shape = probe.theta.reshape(-1), probe.eps, probe.slope.shape
    steps = eps * np.eye(theta.size)
    plus = np.array([probe.cost(theta + s) for s in steps])
    minus = np.array([probe.cost(theta - s) for s in steps])
    base = probe.cost(theta)
    return {"one_sided": ((plus - base) / eps).reshape(shape),
            "eps_not_2eps": ((plus - minus) / eps).reshape(shape),
            "plus_for_minus": ((plus + minus) / (2 * eps)).reshape(shape),
            "missing_parentheses": (plus - minus / (2 * eps)).reshape(shape)}


def diagnose(probe: Probe) -> str | None:
    """The finding (a key of HINTS) for a checker that failed a hidden case, from probe calls; None
    when the probes cannot tell (the checker never evaluated the cost, or a probe call failed)."""
    with recording() as seen:
        first = probe.call(probe.slope, False)
    if probe.grad_point is not None and (finding := _grad_point_finding(probe, seen)):
        return finding
    reading = read_loop(seen.points, probe.theta, probe.eps)
    if reading is None or first is None:
        return None
    quotients = _quotients(probe)
    if reading.finding == "minus_at_theta":  # J(θ) and J(θ + ε e_i) only: divided by ε, or 2ε?
        return "one_sided" if is_zero(probe.call(quotients["one_sided"], False)) else "minus_at_theta"
    if reading.finding:
        return reading.finding
    if is_zero(first):  # gradapprox is the exact slope: measure the formula alone
        returned = [probe.call(grad, False) for grad in formula_probes(probe.slope)]
        if any(value is None for value in returned):
            return None
        return read_formula(probe.slope, returned) or "parts_right"
    for name, grad in quotients.items():
        if (name != "one_sided" or reading.base) and is_zero(probe.call(grad, False)):
            return name
    if probe.theta.size > 1 and is_zero(probe.call(np.full(probe.slope.shape, FLAT_SLOPE), True)):
        return "misaligned_index" if probe.grad_builder in seen.calls else "misaligned"
    return "quotient_other"


def hint(finding: str | None) -> str | None:
    """The text of a finding (None stays None)."""
    return None if finding is None else HINTS[finding]
