"""The hidden checks of gradient_checking_lab: one per exercise (trusted side).

Every check chooses its inputs (seeded, several cases, so a hard-coded answer fails), calls the
student's function through the Subject with trusted versions of whatever it calls, and compares
the plain data it gets back with reference. Hidden cases are certified before use, like
gradient_checking's cases.py does: a correct answer clears every verdict by a wide margin.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

from autograder.grading.compare import as_array, as_float, fmt, off_by, same_values
from autograder.grading.results import Failed
from autograder.grading.secret import hidden_rng
from autograder.grading.subject import Subject
from autograder.grading.tolerances import Tolerances

from ...gradient_checking.grader import cases
from ...gradient_checking.grader import reference as network
from . import dependencies
from . import reference

# Correct float64 code that orders its operations differently moves a difference quotient by an
# ulp or two, which moves a relative difference by < 1e-15 in absolute terms; every error value
# the hidden cases compare is > 1e-12, so 1e-3 relative is far above that noise and far below any
# mistake (a one-sided for a two-sided quotient, ε for 2ε, a missing norm: factors of 2 or more).
CURVE_RTOL, CURVE_ATOL = 1e-3, 1e-14
# A difference that is rounding noise (a correct gradient, ~1e-10) may differ by ~1e-12 between
# correct implementations; a hundredth of the threshold is far above that and can never move a
# verdict across the threshold. Large differences (planted bugs) must agree to 1e-4 relative.
DIFF_RTOL = 1e-4
# best_epsilon returns one of the steps the check sent, so a correct answer is that float exactly;
# 1e-12 relative only forgives a student who rebuilds the grid (np.logspace again, say).
GRID_RTOL = 1e-12
#: A relative difference this close to 1 says only that one side dwarfs the other, which many
#: different mistakes do: it never names one.
SATURATED = 1e-3
#: Hidden cases are certified only if every correct difference clears the threshold this many
#: times, and every planted bug exceeds it this many times (as cases.SAFETY_MARGIN).
SAFETY = cases.SAFETY_MARGIN

CONVERSIONS = {
    "dictionary_to_vector": "lab.dictionary_to_vector",
    "vector_to_dictionary": "lab.vector_to_dictionary",
    "gradients_to_vector": "lab.gradients_to_vector",
    "relative_difference": "lab.relative_difference",
}


def diff_close(got: float, expected: float, threshold: float) -> bool:
    """Equal as differences: to DIFF_RTOL, or both rounding noise far below the threshold."""
    return abs(got - expected) <= DIFF_RTOL * abs(expected) + threshold / SAFETY


def copy_dict(d: dict) -> dict:
    return {k: np.array(v, copy=True) for k, v in d.items()}


# ---- 1. Choosing epsilon -------------------------------------------------------------------

@dataclass(frozen=True)
class CurveCase:
    label: str
    theta: np.ndarray
    epsilons: tuple
    cost: str      # the dependency names cost_function / gradient_function stand for
    gradient: str
    curve: str     # the dependency name error_curve stands for in best_epsilon


@functools.lru_cache(maxsize=1)
def curve_cases() -> tuple[CurveCase, ...]:
    wave_theta = hidden_rng("gradient_checking_lab", "wave").uniform(-2, 2, size=(5, 1))
    network_theta, _ = network.dictionary_to_vector(cases.classic_case().parameters)
    return (
        CurveCase("f(θ) = θ³ at θ = 1", np.array([[1.0]]), tuple(np.logspace(-9, -1, 9)),
                  "lab.cube.cost", "lab.cube.gradient", "lab.error_curve.cube"),
        CurveCase("f(θ) = θ³ at θ = −0.7", np.array([[-0.7]]), (3e-2, 3e-4, 3e-6, 3e-8),
                  "lab.cube.cost", "lab.cube.gradient", "lab.error_curve.cube"),
        CurveCase("J(θ) = Σ sin(2θ) + θ³/10 with 5 parameters", wave_theta, tuple(np.logspace(-10, -1, 19)),
                  "lab.wave.cost", "lab.wave.gradient", "lab.error_curve.wave"),
        CurveCase("the network's cost on other data (47 parameters)", network_theta, (1e-2, 1e-4, 1e-6, 1e-8),
                  "lab.network.cost", "lab.network.gradient", "lab.error_curve.network"),
    )


def reference_curve(case: CurveCase):
    cost, gradient = dependencies.DEPENDENCIES[case.cost], dependencies.DEPENDENCIES[case.gradient]
    return reference.error_curve(cost, gradient, case.theta, list(case.epsilons))


def _curve_hint(case: CurveCase, name: str, got, one, two) -> str:
    """Name the mistake whose curve the student's matches, if a known one does."""
    if np.allclose(got, two if name == "one-sided" else one, rtol=CURVE_RTOL, atol=CURVE_ATOL):
        return "the one-sided and two-sided curves are swapped; return (one_sided, two_sided)"
    cost, gradient = dependencies.DEPENDENCIES[case.cost], dependencies.DEPENDENCIES[case.gradient]
    for hint, (quotient, measure) in reference.CURVE_MISTAKES.items():
        mistaken = reference.difference_curve(cost, gradient, case.theta, list(case.epsilons), quotient, measure)
        if np.allclose(got, mistaken, rtol=CURVE_RTOL, atol=CURVE_ATOL):
            return hint
    return ("one-sided: (J(θ+ε) − J(θ)) / ε, two-sided: (J(θ+ε) − J(θ−ε)) / (2ε), for every "
            "component of θ; then the relative difference ‖grad − gradapprox‖ / (‖grad‖ + ‖gradapprox‖)")


def check_error_curve(subject: Subject, tol: Tolerances) -> dict:
    measured = {}
    for case in curve_cases():
        deps = {**CONVERSIONS, "cost_function": case.cost, "gradient_function": case.gradient}
        got = subject.call("error_curve", (case.theta.copy(), np.array(case.epsilons)), deps)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Failed("error_curve should return a pair (one_sided, two_sided) of arrays")
        one, two = reference_curve(case)
        measured[case.label] = float(np.min(two))
        for name, value, want in (("one-sided", got[0], one), ("two-sided", got[1], two)):
            array = as_array(value, f"the {name} errors")
            if array.size != want.size:
                raise Failed(f"for {case.label}, the {name} errors have {array.size} entries; "
                             f"expected one per epsilon ({want.size})")
            array = array.ravel()
            if not np.all(np.isfinite(array)):
                raise Failed(f"for {case.label}, the {name} errors contain nan or inf")
            close = np.isclose(array, want, rtol=CURVE_RTOL, atol=CURVE_ATOL)
            if not close.all():
                k = int(np.flatnonzero(~close)[np.argmax(np.asarray(case.epsilons)[~close])])  # largest ε
                raise Failed(f"for {case.label}, the {name} error at ε = {case.epsilons[k]:.0e} is wrong: "
                             f"{off_by(array[k], want[k])}. Look at: "
                             + _curve_hint(case, name, array, one, two))
    return measured


def best_epsilon_cases():
    """(case, grid): grids fine enough to show both minima, coarser where a curve costs more."""
    cube, _, wave, network = curve_cases()
    return [(cube, np.logspace(-12, -1, 23)), (wave, np.logspace(-11, -1, 21)),
            (network, np.logspace(-10, -2, 9))]


def _best_hint(values, expected, epsilons, one, two) -> str:
    curves = {"one-sided": one, "two-sided": two}
    for side, value, want in zip(curves, values, expected):
        if value == want:
            continue
        other = "two-sided" if side == "one-sided" else "one-sided"
        curve = curves[side]
        if np.isclose(value, np.min(curve), rtol=GRID_RTOL, atol=0):
            return f"the {side} value is the smallest error; return the ε where it happens"
        if np.isclose(value, epsilons[np.argmin(curves[other])], rtol=GRID_RTOL, atol=0):
            return f"the {side} value is where the {other} curve is smallest; one-sided first, then two-sided"
        if np.isclose(value, epsilons[np.argmax(curve)], rtol=GRID_RTOL, atol=0):
            return f"the {side} value is where its error is largest (argmax); the best ε minimises it"
        return f"the {side} value: the ε at which that curve is smallest (np.argmin)"
    return "the ε at which each error curve is smallest (np.argmin), one-sided first"


def check_best_epsilon(subject: Subject, tol: Tolerances) -> dict:
    measured = {}
    for case, epsilons in best_epsilon_cases():
        one, two = reference.error_curve(dependencies.DEPENDENCIES[case.cost], dependencies.DEPENDENCIES[case.gradient],
                                 case.theta, list(epsilons))
        expected = reference.best_epsilon(epsilons, one, two)
        got = subject.call("best_epsilon", (case.theta.copy(), epsilons.copy()), {"error_curve": case.curve})
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Failed("best_epsilon should return a pair (best for one-sided, best for two-sided)")
        values = [as_float(v, f"the best epsilon ({side})") for v, side in zip(got, ("one-sided", "two-sided"))]
        measured[case.label] = expected[1]
        if not np.allclose(values, expected, rtol=GRID_RTOL, atol=0):
            on_grid = all(np.isclose(v, epsilons, rtol=GRID_RTOL, atol=0).any() for v in values)
            shown = f"({values[0]:.3g}, {values[1]:.3g})" if on_grid else "steps that are not on the grid"  # only its own steps
            raise Failed(f"for {case.label} with ε from {epsilons[0]:.0e} to {epsilons[-1]:.0e}: returned "
                         f"{shown}, which is not where the errors are smallest. "
                         f"Look at: {_best_hint(values, expected, epsilons, one, two)}.")
    return measured


# ---- 2. Look at the components -------------------------------------------------------------

@dataclass(frozen=True)
class BugCase:
    label: str
    case: cases.NetworkCase
    bug: str | None          # a key of reference.BUGGY_BACKWARDS, or None for a correct pass
    expected_block: str | None
    differences: dict
    threshold: float = 1e-7
    epsilon: float | None = None   # the step locate_bug gets; None: the network case's own

    @property
    def backward_spec(self) -> str:
        return f"lab.backward.{self.bug}" if self.bug else "lab.backward.correct"

    def gradients(self) -> dict:
        backward = reference.BUGGY_BACKWARDS[self.bug][0] if self.bug else network.backward_propagation_n
        _, cache = network.forward_propagation_n(self.case.X, self.case.Y, self.case.parameters)
        return backward(self.case.X, self.case.Y, cache)


def _certify_bug(case: cases.NetworkCase, bug: str | None, threshold: float) -> BugCase | None:
    """Use a (network, bug) pair only when every block is clearly right or clearly wrong."""
    backward, block, what = reference.BUGGY_BACKWARDS[bug] if bug else (network.backward_propagation_n, None, "no bug")
    _, cache = network.forward_propagation_n(case.X, case.Y, case.parameters)
    exact = network.backward_propagation_n(case.X, case.Y, cache)
    if any(not np.any(exact[k]) for k in network.GRAD_KEYS):
        return None  # a dead layer's block: grad and gradapprox both 0, and the course's formula is 0/0
    diffs = reference.block_differences(case.parameters, backward(case.X, case.Y, cache), case.X, case.Y, case.epsilon)
    if any(threshold / SAFETY <= d <= threshold * SAFETY for d in diffs.values()):
        return None
    if reference.locate_bug(diffs, threshold) != block:
        return None
    return BugCase(f"{case.name} with {what}", case, bug, block, diffs, threshold)


@functools.lru_cache(maxsize=4)
def bug_cases(tol: Tolerances) -> tuple[BugCase, ...]:
    """A correct pass and every planted bug, each on the first network case that certifies it."""
    networks = cases.network_cases(tol)
    chosen = []
    for offset, bug in enumerate([None, *reference.BUGGY_BACKWARDS]):
        for k in range(len(networks)):
            network = networks[(offset + k) % len(networks)]
            certified = _certify_bug(network, bug, tol.threshold)
            if certified is not None:
                chosen.append(certified)
                break
        else:
            raise RuntimeError(f"the planted bug {bug} could not be certified on any hidden network")
    return tuple(chosen)


#: A step far from the hidden cases' own, where a correct block's difference shows the truncation
#: error: a block_differences that ignores epsilon (uses its default) gives other values here.
LARGE_EPSILON = 1e-3


@functools.lru_cache(maxsize=4)
def locate_cases(tol: Tolerances) -> tuple[BugCase, ...]:
    """bug_cases, and two with another threshold, so that every argument matters: one where it
    is above every block's difference (no bug to report), one where it lies between a wrong
    block's difference and a larger one later in backprop order."""
    chosen = list(bug_cases(tol))
    multi = next(bc for bc in chosen if bc.bug == "classic")
    top = max(multi.differences.values())
    chosen.append(dataclasses.replace(multi, label=multi.label + f", threshold {fmt(top * SAFETY)}",
                                      expected_block=None, threshold=top * SAFETY))
    wrong = [k for k in reference.BACKPROP_ORDER if multi.differences[k] > tol.threshold * SAFETY]
    first = multi.differences[wrong[0]]
    later = [k for k in wrong[1:] if multi.differences[k] > first * SAFETY]
    if later:
        threshold = float(np.sqrt(first * multi.differences[later[0]]))
        chosen.append(dataclasses.replace(
            multi, label=multi.label + f", threshold {fmt(threshold)}",
            expected_block=reference.locate_bug(multi.differences, threshold), threshold=threshold))
    chosen.append(_large_epsilon_locate_case(tol))
    return tuple(chosen)


#: block_differences' default step: what a locate_bug that does not pass epsilon on gets.
DEFAULT_EPSILON = inspect.signature(dependencies.block_differences).parameters["epsilon"].default
#: A step where truncation (about ε² = 1e-4 relative) puts blocks of a correct pass above the
#: threshold, so locate_bug's verdict there differs from the one at the default step.
LOCATE_EPSILON = 1e-2


def _large_epsilon_locate_case(tol: Tolerances) -> BugCase:
    """A case at LOCATE_EPSILON whose verdict differs from the one at block_differences' default
    step, so that epsilon matters to locate_bug as the threshold does."""
    for bc in bug_cases(tol):
        case, gradients = bc.case, bc.gradients()
        large = reference.block_differences(case.parameters, gradients, case.X, case.Y, LOCATE_EPSILON)
        default = reference.block_differences(case.parameters, gradients, case.X, case.Y, DEFAULT_EPSILON)
        # At this step truncation, not rounding, sets every difference: a locate_bug that computes
        # them itself in another order moves them by ~1e-12 relative, so 20 % is margin enough.
        if any(tol.threshold / 1.2 <= d <= tol.threshold * 1.2 for d in large.values()):
            continue
        expected = reference.locate_bug(large, tol.threshold)
        if expected != reference.locate_bug(default, tol.threshold):
            return dataclasses.replace(bc, label=f"{bc.label}, ε = {fmt(LOCATE_EPSILON)}", expected_block=expected,
                                       differences=large, epsilon=LOCATE_EPSILON)
    raise RuntimeError(f"no hidden case's verdict at ε = {LOCATE_EPSILON:g} differs from the default step's")


def _large_epsilon_case(tol: Tolerances):
    bc = bug_cases(tol)[0]  # the correct backward pass
    return bc, reference.block_differences(bc.case.parameters, bc.gradients(), bc.case.X, bc.case.Y, LARGE_EPSILON)


def check_block_differences(subject: Subject, tol: Tolerances) -> dict:
    measured = {}
    deps = {**CONVERSIONS, "forward_propagation_n": "lab.forward_propagation_n"}
    correct, at_large = _large_epsilon_case(tol)
    runs = [(bc, bc.case.epsilon, bc.differences) for bc in bug_cases(tol)]
    runs.insert(1, (correct, LARGE_EPSILON, at_large))
    for bc, epsilon, differences in runs:
        case = bc.case
        args = (case.copy_parameters(), copy_dict(bc.gradients()), case.X.copy(), case.Y.copy(), epsilon)
        got = subject.call("block_differences", args, deps)
        if not isinstance(got, dict):
            raise Failed("block_differences should return a dict {'dW1': difference, ..., 'db3': difference}")
        missing = [k for k in network.GRAD_KEYS if k not in got]
        if missing:
            raise Failed(f"the dict has no {', '.join(missing)}; "
                         "use the names of the gradients, dW1 ... db3")
        extra = len(set(got) - set(network.GRAD_KEYS))
        if extra:  # the gradients passed in carry more entries (dZ1, ...) than the six blocks
            raise Failed(f"the dict has {extra} key{'s' if extra > 1 else ''} besides dW1, db1, dW2, db2, dW3, db3: "
                         "return one entry per block, whatever else the gradients dict holds")
        measured[f"{bc.label}, ε = {epsilon:g}"] = differences
        values = {key: as_float(got[key], f"the difference of {key}") for key in network.GRAD_KEYS}
        for key in network.GRAD_KEYS:
            value, want = values[key], differences[key]
            if not diff_close(value, want, tol.threshold):
                raise Failed(f"for {bc.label} (ε = {epsilon:g}), the difference of {key} is wrong: "
                             f"{off_by(value, want)}" + _block_hint(bc, epsilon, values, key, tol))
    return measured


def _block_hint(bc: BugCase, epsilon: float, values: dict, key: str, tol: Tolerances) -> str:
    """Name the mistake whose values all six blocks match, when exactly one known mistake does."""
    case = bc.case
    grad = network.gradients_to_vector(bc.gradients())
    default = reference.block_differences(case.parameters, bc.gradients(), case.X, case.Y, 1e-6)
    whole = network.relative_difference(grad, reference.numerical_gradient(case.parameters, case.X, case.Y, epsilon))
    candidates = {
        "it looks like epsilon is not used: every block matches a step of 1e-6, the default, "
        "not the epsilon passed in": default,
        "that is the difference of the whole vector; compute it for this block's slice only":
            {k: whole for k in network.GRAD_KEYS},
    }
    expected = reference.block_differences(case.parameters, bc.gradients(), case.X, case.Y, epsilon)
    matches = [hint for hint, known in candidates.items()
               if all(diff_close(values[k], known[k], tol.threshold) for k in network.GRAD_KEYS)
               and not all(diff_close(known[k], expected[k], tol.threshold) for k in network.GRAD_KEYS)]
    if len(matches) == 1:
        return f". {matches[0][0].upper()}{matches[0][1:]}."
    return "."


def check_locate_bug(subject: Subject, tol: Tolerances) -> dict:
    measured = {}
    for bc in locate_cases(tol):
        case = bc.case
        deps = {**CONVERSIONS, "forward_propagation_n": "lab.forward_propagation_n",
                "backward_propagation_n": bc.backward_spec, "block_differences": "lab.block_differences"}
        epsilon = bc.epsilon or case.epsilon
        args = (case.copy_parameters(), case.X.copy(), case.Y.copy(), epsilon, bc.threshold)
        got = subject.call("locate_bug", args, deps)
        measured[bc.label] = bc.expected_block
        if got == bc.expected_block:
            continue
        wrong = [k for k in reference.BACKPROP_ORDER if bc.differences[k] > bc.threshold]
        where = f"for {case.name} at ε = {fmt(epsilon)}" if bc.epsilon else \
            f"for a backward pass with a hidden bug on {case.name}"
        if _ignores_epsilon(got, bc):
            hint = ("the blocks' differences depend on the step, and your answer is the one for "
                    "block_differences' default step. It looks like epsilon is not passed on to block_differences")
        elif bc.expected_block is None and bc.threshold != tol.threshold:
            hint = (f"every block is below the threshold passed in ({fmt(bc.threshold)}) here, so return "
                    "None: compare with the threshold argument")
        elif bc.expected_block is None:
            hint = "every block is below the threshold here, so there is no bug: return None"
        elif len(wrong) > 1:
            hint = (f"{', '.join(wrong)} all disagree: an error spreads to every block backprop computes "
                    f"after it, so the bug is where the disagreement starts, in the order "
                    f"{', '.join(reference.BACKPROP_ORDER)}")
        else:
            hint = f"only {wrong[0]} is above the threshold"
        what = (f"not {bc.expected_block!r}, the first block above the threshold at this step" if bc.epsilon
                else "which is not the block where the bug is")
        named = got is None or (isinstance(got, str) and got in reference.BACKPROP_ORDER)  # never the student's text
        shown = repr(got) if named else "something that is not a block name"
        raise Failed(f"{where}: returned {shown}, {what}. Look at: {hint}.")
    return measured


def _default_step_verdict(bc: BugCase):
    case = bc.case
    default = reference.block_differences(case.parameters, bc.gradients(), case.X, case.Y, DEFAULT_EPSILON)
    return reference.locate_bug(default, bc.threshold)


def _ignores_epsilon(got, bc: BugCase) -> bool:
    """The answer is the one at block_differences' default step and no other known mistake's
    (walking the blocks in the other order)."""
    reverse = next((k for k in reversed(reference.BACKPROP_ORDER) if bc.differences[k] > bc.threshold), None)
    return got == _default_step_verdict(bc) and got != reverse


# ---- 3. Not with dropout -------------------------------------------------------------------

@dataclass(frozen=True)
class DropoutCase:
    label: str
    case: cases.NetworkCase
    keep_prob: float
    epsilon: float
    backward: str   # dependency name
    expected: float
    new_masks: float  # what a check that draws new masks in every pass returns


def _kink_free_with_masks(case: cases.NetworkCase, keep_prob: float, masks, eps: float) -> bool:
    """No hidden unit changes sign between θ and any θ ± ε e_i, with the masks held fixed."""
    theta, _ = network.dictionary_to_vector(case.parameters)

    def pattern(t):
        _, cache = reference.forward_with_dropout(case.X, case.Y, network.vector_to_dictionary(t), keep_prob, masks)
        return np.concatenate([(cache["Z1"] > 0).ravel(), (cache["Z2"] > 0).ravel()])
    start = pattern(theta)
    for i in range(theta.size):
        for sign in (1, -1):
            nudged = theta.copy()
            nudged[i] += sign * eps
            if not np.array_equal(pattern(nudged), start):
                return False
    return True


def _certify_dropout(case: cases.NetworkCase, keep_prob: float, backward: str, tol: Tolerances):
    masks = reference.seeded_masks(case.X, case.parameters, keep_prob)
    if np.max(np.abs(reference.dropout_logits(case.X, case.parameters, keep_prob, masks))) > cases.MAX_LOGIT:
        return None
    best = None
    for eps in tol.epsilons:
        if not _kink_free_with_masks(case, keep_prob, masks, eps):
            continue
        diff = reference.dropout_gradient_check(case.parameters, case.X, case.Y, keep_prob, eps, masks)
        if best is None or diff < best[1]:
            best = (eps, diff)
    if best is None or best[1] * SAFETY > tol.threshold:
        return None
    eps = best[0]
    backward_fn = dependencies.DEPENDENCIES[backward]
    expected = reference.dropout_gradient_check(case.parameters, case.X, case.Y, keep_prob, eps, masks,
                                        backward=lambda X, Y, c, kp: backward_fn(X, Y, c, kp))
    if backward != "lab.backward_with_dropout" and expected < tol.threshold * SAFETY:
        return None
    _, cache = reference.forward_with_dropout(case.X, case.Y, case.parameters, keep_prob, masks)
    grad = network.gradients_to_vector(backward_fn(case.X, case.Y, cache, keep_prob))
    fresh = lambda X, Y, p: dependencies.forward_with_dropout(X, Y, p, keep_prob)
    dependencies.new_call()
    with np.errstate(divide="ignore", invalid="ignore"):  # other masks may saturate the sigmoid: rejected below
        new_masks = network.relative_difference(grad, reference.numerical_gradient(case.parameters, case.X, case.Y,
                                                                                   eps, fresh))
    # The wrong way (new masks in every pass) must fail, by a finite margin its hint can match.
    if keep_prob < 1 and not (np.isfinite(new_masks) and new_masks >= tol.threshold * SAFETY):
        return None
    label = f"{case.name}, keep_prob = {keep_prob:g}" + (", backward forgets 1/keep_prob"
                                                        if backward.endswith("no_rescale") else "")
    return DropoutCase(label, case, keep_prob, eps, backward, expected, new_masks)


@functools.lru_cache(maxsize=4)
def dropout_cases(tol: Tolerances) -> tuple[DropoutCase, ...]:
    wanted = [(0.8, "lab.backward_with_dropout"), (0.5, "lab.backward_with_dropout"),
              (1.0, "lab.backward_with_dropout"), (0.7, "lab.backward_with_dropout.no_rescale")]
    networks = [c for c in cases.network_cases(tol) if c.X.shape[1] >= 3]
    chosen = []
    for offset, (keep_prob, backward) in enumerate(wanted):
        for k in range(len(networks)):
            certified = _certify_dropout(networks[(offset + k) % len(networks)], keep_prob, backward, tol)
            if certified is not None:
                chosen.append(certified)
                break
        else:
            raise RuntimeError(f"no hidden dropout case for keep_prob {keep_prob} could be certified")
    return tuple(chosen)


def _second_draw(dc: DropoutCase) -> float:
    """What a check returns whose gradients come from a second forward pass (other masks) while
    its nudged passes reuse the first pass's masks."""
    case = dc.case
    first = reference.seeded_masks(case.X, case.parameters, dc.keep_prob, 0)
    second = reference.seeded_masks(case.X, case.parameters, dc.keep_prob, 1)
    _, cache = reference.forward_with_dropout(case.X, case.Y, case.parameters, dc.keep_prob, second)
    grad = network.gradients_to_vector(dependencies.DEPENDENCIES[dc.backward](case.X, case.Y, cache, dc.keep_prob))
    fixed = lambda X, Y, p: reference.forward_with_dropout(X, Y, p, dc.keep_prob, first)
    return network.relative_difference(grad, reference.numerical_gradient(case.parameters, case.X, case.Y,
                                                                          dc.epsilon, fixed))


def _dropout_hint(dc: DropoutCase, got: float, tol: Tolerances) -> str:
    """Name a mistake only when the value matches it and no other; else say nothing more."""
    if dc.keep_prob == 1:
        return ""  # no mask is ever dropped: no mask mistake can show here
    known = {"it looks like every forward pass draws new masks. Draw them once, with the first forward "
             "pass, and pass masks = (cache['D1'], cache['D2']) to every other one": dc.new_masks,
             "it looks like the gradients come from a second forward pass, with other masks than the "
             "nudged passes reuse; take them from the cache of the pass whose masks you reuse":
             _second_draw(dc)}
    if abs(got - 1) < SATURATED:
        return "."  # ‖g − a‖ ≫ ‖g‖: many mistakes give a difference of about 1
    matches = [hint for hint, value in known.items() if diff_close(got, value, tol.threshold)
               and not diff_close(value, dc.expected, tol.threshold)]
    if len(matches) == 1:
        return f". {matches[0][0].upper()}{matches[0][1:]}."
    return "."


def check_dropout_gradient_check(subject: Subject, tol: Tolerances) -> dict:
    measured = {}
    for dc in dropout_cases(tol):
        case = dc.case
        deps = {**CONVERSIONS, "forward_with_dropout": "lab.forward_with_dropout",
                "backward_with_dropout": dc.backward}
        args = (case.copy_parameters(), case.X.copy(), case.Y.copy(), dc.keep_prob, dc.epsilon)
        dependencies.new_call()
        got = as_float(subject.call("dropout_gradient_check", args, deps), f"the difference for {dc.label}")
        measured[dc.label] = dc.expected
        if not diff_close(got, dc.expected, tol.threshold):
            raise Failed(f"for {dc.label} (ε = {dc.epsilon:g}): the difference returned is wrong: "
                         f"{off_by(got, dc.expected)} against the reference" + _dropout_hint(dc, got, tol))
    return measured


# ---- 4. At initialisation and after some training -----------------------------------------

@dataclass(frozen=True)
class TrainingCase:
    label: str
    seed: int
    backward: str
    learning_rate: float
    num_iterations: int
    check_every: int
    # The trajectories' best step: every check a correct pass makes along them is below 1e-9.
    epsilon: float = 1e-5

    def data(self):
        return reference.training_data(self.seed)

    def run(self):
        X, Y, parameters = self.data()
        return reference.check_during_training(parameters, X, Y, self.learning_rate, self.num_iterations,
                                       self.check_every, self.epsilon, dependencies.DEPENDENCIES[self.backward])


TRAINING_CASES = (
    TrainingCase("a correct backward pass, 100 iterations, a check every 20", 5, "lab.backward.correct",
                 0.3, 100, 20),
    TrainingCase("a backward pass that clips W3 to [-1, 1], 100 iterations, a check every 20", 5,
                 "lab.backward.clipped_W3", 0.3, 100, 20),
    TrainingCase("the clipping bug on other data, 90 iterations, a check every 30", 0,
                 "lab.backward.clipped_W3", 0.25, 90, 30),
)


@functools.lru_cache(maxsize=4)
def training_cases(tol: Tolerances):
    """Each case with its reference result, certified: every check the correct backward pass
    would make along the trajectory clears the threshold 100x (no ReLU kink within ε, no
    saturated sigmoid), and the clipping bug is invisible at first and plain by the end."""
    certified = []
    for tc in TRAINING_CASES:
        X, Y, parameters = tc.data()
        backward = dependencies.DEPENDENCIES[tc.backward]
        differences, final, largest_logit = tc.run()
        if largest_logit > cases.MAX_LOGIT:
            raise RuntimeError(f"training case {tc.label!r}: a logit of {largest_logit:.1f} saturates the sigmoid")
        p = {k: v.copy() for k, v in parameters.items()}
        for i in range(tc.num_iterations):
            _, cache = network.forward_propagation_n(X, Y, p)
            if i % tc.check_every == 0:
                theta, _ = network.dictionary_to_vector(p)
                steps = tc.epsilon * np.eye(network.N_PARAMS)
                patterns = cases.activation_pattern(X, np.hstack([theta, theta + steps, theta - steps]))
                if not (patterns == patterns[0]).all():
                    raise RuntimeError(f"training case {tc.label!r} has a ReLU kink within ε at iteration {i}")
                correct = network.backward_propagation_n(X, Y, cache)
                if network.gradient_check_n(p, correct, X, Y, tc.epsilon) * SAFETY > tol.threshold:
                    raise RuntimeError(f"training case {tc.label!r}: a correct check is too close to the "
                                       f"threshold at iteration {i}")
            gradients = backward(X, Y, cache)
            p = {k: p[k] - tc.learning_rate * gradients["d" + k] for k in network.PARAM_KEYS}
        if tc.backward.endswith("clipped_W3") and not (differences[0] * SAFETY < tol.threshold
                                                        < differences[-1] / SAFETY):
            raise RuntimeError(f"training case {tc.label!r} does not show the clipping bug late only")
        certified.append((tc, differences, final))
    return tuple(certified)


def _schedule_hint(tc: TrainingCase, differences: list[float], tol: Tolerances) -> str:
    """Name the iterations the student's checks were made at, when every returned difference
    matches exactly one iteration's (before its update) and those are not the right ones."""
    X, Y, parameters = tc.data()
    every, _, _ = reference.check_during_training(parameters, X, Y, tc.learning_rate, tc.num_iterations + 1,
                                                  1, tc.epsilon, dependencies.DEPENDENCIES[tc.backward])
    wanted = list(range(0, tc.num_iterations, tc.check_every))
    found, pairs = [], []
    for k, got in enumerate(differences):
        if got < tol.threshold:
            found.append("?")  # rounding noise: every early iteration looks alike
            continue
        at = [i for i, d in enumerate(every) if diff_close(got, d, tol.threshold)]
        if len(at) != 1:
            return "."
        found.append(at[0])
        pairs.append((at[0], wanted[k]))
    if not pairs or all(a == b for a, b in pairs):
        return "."
    if all(a == b + 1 for a, b in pairs):
        return (". Your checks match the parameters after each checked iteration's update: check when "
                "i % check_every == 0, before the update")
    return (f". Your checks match iterations {found}; they should be at {wanted} "
            "(i % check_every == 0, before that iteration's update)")


def check_check_during_training(subject: Subject, tol: Tolerances) -> dict:
    measured = {}
    for tc, expected, final in training_cases(tol):
        X, Y, parameters = tc.data()
        deps = {"forward_propagation_n": "lab.forward_propagation_n", "backward_propagation_n": tc.backward,
                "gradient_check_n": "lab.gradient_check_n"}
        args = (parameters, X, Y, tc.learning_rate, tc.num_iterations, tc.check_every, tc.epsilon)
        got = subject.call("check_during_training", args, deps, {0: "parameters"})
        if not isinstance(got, (tuple, list)) or len(got) != 2 or not isinstance(got[1], dict):
            raise Failed("check_during_training should return a pair (differences, parameters)")
        differences, trained = got
        if not isinstance(differences, (list, tuple, np.ndarray)):
            raise Failed("differences should be a list with one difference per check")
        differences = [as_float(d, "each difference") for d in differences]
        iterations = list(range(0, tc.num_iterations, tc.check_every))
        measured[tc.label] = expected
        if len(differences) != len(expected):
            raise Failed(f"for {tc.label}: {len(differences)} differences, expected {len(expected)}, one per "
                         f"check at iterations {iterations}. Look at: check when i % check_every == 0, "
                         "for i in range(num_iterations)")
        for key in network.PARAM_KEYS:
            if key not in trained:
                raise Failed(f"the parameters returned have no {key}")
            try:
                same_values(trained[key], final[key], f"{key} after training ({tc.label})", public=False)
            except Failed as failure:
                raise Failed(f"{failure}. Look at: the update θ ← θ − learning_rate · dθ for every block, "
                             "once per iteration, with the gradients of the current parameters") from None
        for i, got_d, want in zip(iterations, differences, expected):
            if not diff_close(got_d, want, tol.threshold):
                raise Failed(f"for {tc.label}: the check at iteration {i} returned a wrong difference: "
                             f"{off_by(got_d, want)} against the reference" + _schedule_hint(tc, differences, tol))
    return measured


# ---- 5. Not in training --------------------------------------------------------------------

LAYER_DIMS_CASES = ([4, 5, 3, 1], [2, 1], [10, 10], [784, 128, 64, 10], [3, 50, 50, 50, 2], [1, 1, 1])


def check_forward_passes_per_check(subject: Subject, tol: Tolerances) -> dict:
    measured = {}
    for dims in LAYER_DIMS_CASES:
        got = as_float(subject.call("forward_passes_per_check", (list(dims),)), f"the count for {dims}")
        n = reference.count_parameters(dims)
        expected = reference.forward_passes_per_check(dims)
        measured[str(dims)] = expected
        if got != expected:
            weights = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
            hints = {n: "that is the number of parameters N; each needs two forward passes, at θ+ε and θ−ε",
                     2 * weights: "only the weights are counted; the biases are parameters too",
                     n + 1: "that is a one-sided check; the two-sided check needs J(θ+ε) and J(θ−ε) for each",
                     2 * n + 1: "the check alone is 2N; the forward pass before backprop is not part of it"}
            raise Failed(f"for layer_dims = {dims} (N = {n} parameters): returned {fmt(got)}, expected "
                         f"{expected}. Look at: {hints.get(got, 'N = Σ (n_l × n_(l-1) + n_l) over the layers; the check needs 2N')}.")
    return measured


CHECKS: dict[str, Callable[[Subject, Tolerances], dict]] = {
    "error_curve": check_error_curve,
    "best_epsilon": check_best_epsilon,
    "block_differences": check_block_differences,
    "locate_bug": check_locate_bug,
    "dropout_gradient_check": check_dropout_gradient_check,
    "check_during_training": check_check_during_training,
    "forward_passes_per_check": check_forward_passes_per_check,
}
