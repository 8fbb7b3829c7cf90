"""Directional gradient check: a few random directions instead of every parameter (trusted side;
the fast mode of autograder.grading.numerics.gradcheck).

The full check nudges each of the N parameters in turn: 2N forward passes. The directional
check draws k random unit directions u and compares, for each, the directional derivative the
backward pass claims, gᵀu, with the two-sided difference of the cost along u,
(J(θ + εu) − J(θ − εu)) / 2ε: 2k forward passes, whatever N is. It is the "fast mode" for
networks far larger than the assignment's 47 parameters; ``LayeredNetwork`` below is such a
network (ReLU layers, a sigmoid output, exact backprop) of any layer sizes.

What is compared
----------------
For direction u_i, with a_i = gᵀu_i (analytic) and b_i the two-sided difference (numerical),

    r_i = sqrt(N) · |a_i − b_i| / (2 ‖g‖).

A random unit u has E[(vᵀu)²] = ‖v‖²/N for every v, so when g is off by e = g − g_true,
a_i − b_i = eᵀu_i (up to float error) and r_i² has mean D², where D = ‖e‖ / (2‖g‖) is about the
relative difference ‖g − gapprox‖ / (‖g‖ + ‖gapprox‖) the full check would report: the root
mean square of the r_i (``DirectionalResult.estimate``) reads it off k numbers instead of N.
The check passes when every r_i ≤ τ (``THRESHOLD``); with k directions it costs 2k forward
passes, 4k + 1 with the kink test below.

The chance of missing a bug
---------------------------
Write t = eᵀu / ‖e‖. For u uniform on the unit sphere in R^N, t is distributed like one
coordinate of u whatever e is: density c_N (1 − t²)^((N−3)/2) on [−1, 1], with
c_N = Γ(N/2) / (√π Γ((N−1)/2)). For N ≥ 3 the density is largest at t = 0, and Wendel's
inequality Γ(x + ½) ≤ √x Γ(x) gives c_N ≤ sqrt((N−1) / 2π), so

    P(|eᵀu| ≤ δ‖e‖) ≤ 2δ c_N ≤ δ · sqrt(2(N−1)/π) < δ · sqrt(2N/π)

(exactly: the regularised incomplete beta I_{δ²}(½, (N−1)/2); ``sphere_coordinate_cdf``).
Direction i misses the bug only when r_i ≤ τ, i.e. when |eᵀu_i| ≤ 2τ‖g‖/√N + |η_i|, where η_i is
the float error of the two-sided difference. With r_η = sqrt(N)·max|η_i| / (2‖g‖), the
difference a correct gradient shows, that is δ = (τ + r_η) / (√N · D), and the k directions are
independent, so

    P(miss) ≤ (δ · sqrt(2(N−1)/π))^k ≤ (sqrt(2/π) · (τ + r_η) / D)^k.

The √N in δ cancels the √N in the bound: for a bug of a given relative size D the chance of
missing it does not grow with the size of the network. ``miss_probability`` evaluates it.

Defaults and what they give (the tests and the benchmark measure these)
-----------------------------------------------------------------------
k = 8 directions, ε = 1e-5, τ = 1e-6. On ReLU networks of 47 to 919,553 parameters a correct
gradient shows r_i ≤ 1e-7 at ε = 1e-5 (r_η ≤ τ/10): rounding, about √N·u·|J| / (ε‖g‖), grows
as ε shrinks (≈ 1e-6 at ε = 1e-6 for N ≈ 10⁶ and a small gradient, which is why τ is not the
course's 1e-7), and a larger ε starts crossing ReLU kinks. With r_η ≤ τ/10, for every N:

    bug size D       per direction ≤    k = 8 directions ≤
    2e-6  (2τ)       0.44               1.4e-3
    1e-5  (10τ)      0.088              3.5e-9
    1e-4  (100τ)     0.0088             3.5e-17

Real backprop bugs are far larger: a block scaled ×2, a dropped term or a sign flip in one
block has D = ‖g_block‖ / (2‖g‖), typically 1e-3 to 0.5; a typical single component doubled
or dropped in a 10⁶-vector has D ≈ 1/(2√N) ≈ 5e-4. A bug with D below τ is not one this check
is built to find.

What it cannot do
-----------------
* No bug is invisible to it, and none is easier to see: the distribution of t is the same for
  every e (the sphere looks the same from every direction), so the bound above holds for every
  bug of size D alike. Fixed or structured directions would not (an error summing to zero is
  invisible along (1, …, 1)). The directions are seeded for reproducibility, so a bug built
  knowing the seed could hide; a bug written independently of it cannot.
* It does not say where the bug is: each r_i mixes every block. ``blockwise_check`` is the
  follow-up: the same check with directions inside one parameter block at a time, 2k passes per
  block, which names the block.
* Like any gradient check, it cannot see a bug in the cost itself (both sides agree on the
  wrong J), nor a bug that only shows at other θ or other data.
* Across a ReLU kink the two-sided difference is no derivative. Pass ``piece`` (the ReLU sign
  pattern, as ``LayeredNetwork.check`` does) and a direction whose step crosses a kink is
  redrawn; the directions used are then uniform given that they cross none, and the per-
  direction bound is divided by 1 − q for a crossing rate q (``DirectionalResult.redrawn``
  counts them). When θ lies on a kink every direction crosses and the result is
  "inconclusive".

Float64 throughout, and required: θ, g and the cost must be float64 (float32's rounding,
6e-8, divided by 2ε would swamp the derivative), as in torch.autograd.gradcheck.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


#: Random directions per check: 2k forward passes. With k = 8 a bug of relative size 10τ is
#: missed with probability below 3.6e-9 (module docstring).
DIRECTIONS = 8
#: Step along a unit direction. At 1e-5 rounding stays below τ/10 on networks up to 10⁶
#: parameters; 1e-6 does not (rounding grows as 1/ε), 1e-3 crosses ReLU kinks.
EPSILON = 1e-5
#: A direction fails when its difference r_i exceeds this: over 10x the largest r_i a correct
#: gradient showed at EPSILON in our measurements (6e-8; N = 47 to 919,553, |g| down to 0.04).
THRESHOLD = 1e-6
#: Seed of the directions' Generator: the same check gives the same verdict every time.
SEED = 0
#: A check gives up ("inconclusive") after this many directions crossing a ReLU kink per
#: direction asked for.
REDRAWS_PER_DIRECTION = 4


# ---- the chance of missing a bug -----------------------------------------------------------

def sphere_coordinate_cdf(n: int, delta: float) -> float:
    """P(|eᵀu| ≤ δ‖e‖) for u uniform on the unit sphere in R^n, exactly.

    t = eᵀu/‖e‖ has density c_n (1 − t²)^((n−3)/2) on [−1, 1]; this integrates it (Simpson).
    In R^1, u = ±1 and |t| = 1; in R^2, t = cos of a uniform angle.
    """
    if delta <= 0:
        return 0.0
    if delta >= 1:
        return 1.0
    if n == 1:
        return 0.0
    if n == 2:
        return 2 / math.pi * math.asin(delta)
    log_c = math.lgamma(n / 2) - math.lgamma((n - 1) / 2) - 0.5 * math.log(math.pi)
    # Beyond t = 40/sqrt(n - 3) the density is below exp(-800): nothing left to integrate.
    upper = delta if n == 3 else min(delta, 40.0 / math.sqrt(n - 3))
    t = np.linspace(0.0, upper, 4097)
    with np.errstate(divide="ignore"):
        density = np.ones_like(t) if n == 3 else np.exp((n - 3) / 2 * np.log1p(-t * t))
    h = t[1] - t[0]
    integral = h / 3 * (density[0] + 4 * density[1:-1:2].sum() + 2 * density[2:-1:2].sum() + density[-1])
    return float(min(1.0, 2 * math.exp(log_c) * integral))


def sphere_coordinate_bound(n: int, delta: float) -> float:
    """The bound P(|eᵀu| ≤ δ‖e‖) ≤ δ · sqrt(2(n−1)/π) (capped at 1); exact below n = 3."""
    if n < 3:
        return sphere_coordinate_cdf(n, delta)
    return float(min(1.0, max(0.0, delta) * math.sqrt(2 * (n - 1) / math.pi)))


def miss_probability(n: int, relative_error: float, threshold: float = THRESHOLD,
                     directions: int = DIRECTIONS, noise: float = 0.0, exact: bool = False) -> float:
    """The chance that a check with k directions passes a gradient off by relative_error.

    relative_error is D = ‖e‖ / (2‖g‖) for the gradient g checked; noise is r_η, the largest
    difference a correct gradient shows. exact=False gives the bound (δ·sqrt(2(n−1)/π))^k,
    exact=True the probability itself for an exact two-sided difference (noise = 0).
    """
    if relative_error <= 0:
        return 1.0
    delta = (threshold + noise) / (math.sqrt(n) * relative_error)
    one = sphere_coordinate_cdf(n, delta) if exact else sphere_coordinate_bound(n, delta)
    return one ** directions


# ---- the check ----------------------------------------------------------------------------

@dataclass(frozen=True)
class DirectionalResult:
    """Per-direction differences and the verdict of one directional check."""
    differences: np.ndarray  # r_i = sqrt(N)·|a_i − b_i| / (2‖g‖), one per direction
    analytic: np.ndarray     # a_i = gᵀu_i, from the backward pass
    numerical: np.ndarray    # b_i = (J(θ + εu_i) − J(θ − εu_i)) / 2ε
    n_params: int
    epsilon: float
    threshold: float
    wanted: int              # directions asked for
    redrawn: int = 0         # directions dropped because their step crossed a kink
    name: str = ""           # the parameter block, for blockwise checks

    @property
    def status(self) -> str:
        if np.any(self.differences > self.threshold):
            return "failed"
        if self.differences.size < self.wanted:
            return "inconclusive"
        return "passed"

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def estimate(self) -> float:
        """Root mean square of the differences: estimates D = ‖e‖ / (2‖g‖)."""
        return float(np.sqrt(np.mean(self.differences ** 2))) if self.differences.size else float("nan")

    @property
    def scale_factor(self) -> float | None:
        """c when the analytic values are c × the numerical ones along every direction (k ≥ 2):
        the signature of a block scaled by mistake (a stray 2 or 1/m, or −1 for a sign flip)."""
        a, b = self.analytic, self.numerical
        if a.size < 2 or not np.any(b):
            return None
        c = float(a @ b / (b @ b))
        return c if np.linalg.norm(a - c * b) <= 1e-4 * np.linalg.norm(a) else None

    def miss_bound(self, relative_error: float) -> float:
        """Bound on the chance that this check passes a bug of relative size D.

        Takes r_η to be the largest difference seen here (an overestimate for a correct
        gradient) and divides by 1 − q for the rate q of directions redrawn at kinks.
        """
        q = self.redrawn / (self.redrawn + self.differences.size) if self.differences.size else 1.0
        noise = float(self.differences.max()) if self.differences.size else 0.0
        one = miss_probability(self.n_params, relative_error, self.threshold, 1, noise) / max(1e-300, 1 - q)
        return min(1.0, one) ** self.wanted

    def message(self) -> str:
        where = f"block {self.name}: " if self.name else ""
        k = self.differences.size
        if self.status == "inconclusive":
            return (f"{where}inconclusive: {self.redrawn} of {self.redrawn + k} directions crossed a "
                    f"ReLU kink within ±{self.epsilon:g}, so θ lies on (or next to) a kink, where the "
                    "two-sided difference is no derivative. Check at another θ or with other data.")
        if self.status == "failed":
            i = int(np.argmax(self.differences))
            follow = "" if self.name else (" A directional check cannot say which block is wrong: "
                                           "run blockwise_check to find it.")
            if self.scale_factor is not None:
                follow = (f" Along every direction the backward pass gives {self.scale_factor:.4g} × the "
                          "numerical value: a factor too many or too few (2, 1/m), or for −1 a sign "
                          "flip." + follow)
            return (f"{where}the gradient is wrong: along direction {i} of {k} the backward pass gives "
                    f"gᵀu = {self.analytic[i]:.10g} but the cost changes at {self.numerical[i]:.10g} per "
                    f"unit step (difference {self.differences[i]:.2e} > threshold {self.threshold:.0e}). "
                    f"Estimated relative difference of the {'block' if self.name else 'whole gradient'}: "
                    f"{self.estimate:.2e}.{follow}")
        return (f"{where}passed: {k} directions, largest difference {self.differences.max():.2e} "
                f"(threshold {self.threshold:.0e}); a bug of relative size {10 * self.threshold:.0e} "
                f"would pass with probability ≤ {self.miss_bound(10 * self.threshold):.1e}.")


def random_directions(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """k directions uniform on the unit sphere in R^n, as the columns of an (n, k) float64 array."""
    u = rng.standard_normal((k, n))  # row by row: direction j is the same whatever k is
    return (u / np.linalg.norm(u, axis=1, keepdims=True)).T


def _float64(value, what: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype != np.float64:
        raise TypeError(f"{what} is {array.dtype}; the directional check needs float64 "
                        "(float32 rounding divided by 2ε swamps the derivative)")
    return array


def _batch_costs(cost: Callable, thetas: np.ndarray, batched: bool) -> np.ndarray:
    """The costs at the columns of thetas, (N, K) -> K: in one call if batched, else column by column."""
    if batched:
        out = _float64(cost(thetas), "the cost").reshape(-1)
        if out.size != thetas.shape[1]:
            raise ValueError(f"a batched cost returned {out.size} values for {thetas.shape[1]} columns")
        return out
    return np.array([_float64(cost(column), "the cost").item() for column in thetas.T])


def _batch_pieces(piece: Callable, thetas: np.ndarray, batched: bool) -> np.ndarray:
    """The smooth-piece signatures at the columns of thetas, (N, K) -> K rows."""
    if batched:
        return np.asarray(piece(thetas)).reshape(thetas.shape[1], -1)
    return np.stack([np.asarray(piece(column)).reshape(-1) for column in thetas.T])


def _both_sides(f: Callable, plus: np.ndarray, minus: np.ndarray, batched: bool):
    """f at the columns of plus and of minus: one batch if batched."""
    if not batched:
        return f(plus), f(minus)
    out = f(np.hstack([plus, minus]))
    return out[:plus.shape[1]], out[plus.shape[1]:]


def _scaled_differences(grad: np.ndarray, analytic: np.ndarray, numerical: np.ndarray) -> np.ndarray:
    """|gᵀu − numerical| per direction, scaled so that it estimates the relative difference."""
    scale = 2 * np.linalg.norm(grad)
    if scale > 0:
        return math.sqrt(grad.size) * np.abs(analytic - numerical) / scale
    return np.where(numerical == 0, 0.0, np.inf)  # an all-zero gradient is right only if the cost does not move at all


def directional_check(cost: Callable, theta, grad, *, directions: int = DIRECTIONS,
                      epsilon: float = EPSILON, threshold: float = THRESHOLD, seed: int = SEED,
                      batched: bool = False, piece: Callable | None = None,
                      name: str = "") -> DirectionalResult:
    """Compare grad with the two-sided difference of cost along random unit directions.

    cost(θ) takes a flat float64 vector of N parameters and returns the float64 cost;
    with batched=True it takes an (N, K) array and returns the K costs of its columns.
    grad is the gradient the backward pass returned at theta (any shape of N elements).
    piece, optional, returns something that changes when θ moves to another smooth piece of
    the cost (a ReLU network's sign pattern); batched like cost. A direction whose step leaves
    θ's piece is redrawn. Each direction costs 2 forward passes (4 with piece).
    """
    theta = _float64(theta, "theta").reshape(-1)
    grad = _float64(grad, "grad").reshape(-1)
    n = theta.size
    if grad.size != n:
        raise ValueError(f"grad has {grad.size} elements, theta {n}")
    rng = np.random.default_rng(seed)
    costs = functools.partial(_batch_costs, cost, batched=batched)
    pieces = functools.partial(_batch_pieces, piece, batched=batched)
    base = pieces(theta[:, None])[0] if piece is not None else None
    analytic, numerical, redrawn = [], [], 0
    while len(analytic) < directions and redrawn <= REDRAWS_PER_DIRECTION * directions:
        # A batched cost takes every remaining direction at once; a plain one, one at a time
        # (an (N, k) array of a 10⁶-parameter network would be a needless 64 MB each).
        u = random_directions(n, directions - len(analytic) if batched else 1, rng)
        plus, minus = theta[:, None] + epsilon * u, theta[:, None] - epsilon * u
        if piece is not None:
            piece_plus, piece_minus = _both_sides(pieces, plus, minus, batched)
            smooth = (piece_plus == base).all(axis=1) & (piece_minus == base).all(axis=1)
            redrawn += int(smooth.size - smooth.sum())
            if not smooth.any():
                continue
            plus, minus = plus[:, smooth], minus[:, smooth]
        # The realised step (θ + εu) − (θ − εu) differs from 2εu by rounding; use it exactly.
        analytic.extend(grad @ (plus - minus) / (2 * epsilon))
        cost_plus, cost_minus = _both_sides(costs, plus, minus, batched)
        numerical.extend((cost_plus - cost_minus) / (2 * epsilon))
    analytic, numerical = np.array(analytic), np.array(numerical)
    return DirectionalResult(_scaled_differences(grad, analytic, numerical), analytic, numerical, n, epsilon,
                             threshold, directions, redrawn, name)


def blockwise_check(cost: Callable, theta, grad, blocks: dict[str, slice], **options) -> dict[str, DirectionalResult]:
    """The follow-up that localises: a directional check inside each parameter block.

    blocks maps a block's name to its slice of the flat θ. Directions are uniform on the
    block's own sphere, so each block gets the bound of the module docstring with N its size
    and D = ‖e_block‖ / (2‖g_block‖). Options are those of directional_check.
    """
    theta = _float64(theta, "theta").reshape(-1)
    grad = _float64(grad, "grad").reshape(-1)
    batched, piece = options.get("batched", False), options.pop("piece", None)
    seed = options.pop("seed", SEED)
    results = {}
    for index, (name, where) in enumerate(blocks.items()):
        def embed(sub, where=where):
            full = np.repeat(theta[:, None], sub.shape[1], axis=1) if batched else theta.copy()
            full[where] = sub
            return full
        results[name] = directional_check(
            lambda sub, embed=embed: cost(embed(sub)), theta[where], grad[where], seed=seed + index,
            piece=None if piece is None else (lambda sub, embed=embed: piece(embed(sub))),
            name=name, **options)
    return results


# ---- a layered network of any size ---------------------------------------------------------

@dataclass(frozen=True)
class LayeredNetwork:
    """LINEAR->RELU x (L-1) -> LINEAR->SIGMOID with the mean cross-entropy cost, any layer sizes.

    sizes = (n_0, n_1, ..., n_L): n_0 features, n_L outputs. θ is W1, b1, W2, b2, ... flattened
    row by row, in the reference's order, so sizes (4, 5, 3, 1) is the assignment's network.
    """
    sizes: tuple[int, ...]

    @property
    def blocks(self) -> dict[str, slice]:
        """Each parameter block's slice of θ: W1, b1, W2, b2, ..."""
        out, start = {}, 0
        for name, (rows, cols) in self.shapes.items():
            out[name] = slice(start, start + rows * cols)
            start += rows * cols
        return out

    @property
    def shapes(self) -> dict[str, tuple[int, int]]:
        out = {}
        for layer in range(1, len(self.sizes)):
            out[f"W{layer}"] = (self.sizes[layer], self.sizes[layer - 1])
            out[f"b{layer}"] = (self.sizes[layer], 1)
        return out

    @property
    def n_params(self) -> int:
        return sum(rows * cols for rows, cols in self.shapes.values())

    def init(self, seed: int) -> np.ndarray:
        """He-normal weights and small random biases (zero biases would hide bias bugs)."""
        rng = np.random.default_rng(seed)
        return np.concatenate([
            (rng.standard_normal(shape) * (math.sqrt(2 / shape[1]) if name[0] == "W" else 0.1)).ravel()
            for name, shape in self.shapes.items()])

    def data(self, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """m examples: X ~ N(0, 1), Y ~ Bernoulli(½) for each output."""
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((self.sizes[0], m))
        Y = rng.integers(0, 2, size=(self.sizes[-1], m)).astype(np.float64)
        return X, Y

    def _parameters(self, theta):
        theta = _float64(theta, "theta").reshape(-1)
        return {name: theta[where].reshape(self.shapes[name]) for name, where in self.blocks.items()}

    def _forward(self, theta, X):
        parameters, A, cache = self._parameters(theta), X, []
        for layer in range(1, len(self.sizes)):
            Z = parameters[f"W{layer}"] @ A + parameters[f"b{layer}"]
            cache.append((A, Z))
            A = np.maximum(0, Z)
        return parameters, cache

    def cost(self, theta, X, Y) -> float:
        """Mean over examples of the cross-entropy, as softplus(Z) − Y·Z (no log of 0)."""
        _, cache = self._forward(theta, X)
        Z = cache[-1][1]
        return float(np.sum(np.logaddexp(0.0, Z) - Y * Z) / X.shape[1])

    def gradient(self, theta, X, Y) -> np.ndarray:
        """Exact backprop: dJ/dθ as a flat float64 vector in θ's order."""
        parameters, cache = self._forward(theta, X)
        m, grads = X.shape[1], {}
        dZ = (1.0 / (1.0 + np.exp(-cache[-1][1])) - Y) / m
        for layer in range(len(self.sizes) - 1, 0, -1):
            A_previous = cache[layer - 1][0]
            grads[f"W{layer}"] = dZ @ A_previous.T
            grads[f"b{layer}"] = np.sum(dZ, axis=1, keepdims=True)
            if layer > 1:
                dZ = (parameters[f"W{layer}"].T @ dZ) * (cache[layer - 2][1] > 0)
        return np.concatenate([grads[name].ravel() for name in self.shapes])

    def pattern(self, theta, X) -> np.ndarray:
        """Signs of every hidden pre-activation: θ's smooth piece of the cost."""
        _, cache = self._forward(theta, X)
        return np.concatenate([(Z > 0).ravel() for _, Z in cache[:-1]])

    def check(self, theta, X, Y, grad=None, blockwise: bool = False, **options):
        """Directional check of grad (default: this network's own backprop) at theta.

        Directions that cross a ReLU kink are redrawn. blockwise=True runs blockwise_check
        and returns a dict of results, one per block.
        """
        grad = self.gradient(theta, X, Y) if grad is None else grad
        cost, piece = (lambda t: self.cost(t, X, Y)), (lambda t: self.pattern(t, X))
        if blockwise:
            return blockwise_check(cost, theta, grad, self.blocks, piece=piece, **options)
        return directional_check(cost, theta, grad, piece=piece, **options)
