"""The directional check: passes correct gradients at any size, catches planted bugs, and misses
bugs no more often than its stated bound."""
from __future__ import annotations

import math

import numpy as np
import pytest

from autograder.course import graders
from autograder.grading import directional
from autograder.grading.numerics import central_difference
from autograder.grading.tolerances import THRESHOLD

cases = graders.module("gradient_checking", "cases")
reference = graders.module("gradient_checking", "reference")

#: (layer sizes, examples, parameters): the assignment's network up to ~10⁶ parameters.
NETWORKS = {
    "assignment": ((4, 5, 3, 1), 3, 47),
    "small": ((20, 30, 20, 1), 16, 1_271),
    "large": ((100, 256, 256, 64, 1), 16, 108_161),
    "huge": ((256, 1024, 512, 256, 1), 32, 919_553),
}


#: The bug tests also run the blockwise follow-up (2k passes per block): sizes up to ~10⁵.
BUG_NETWORKS = ["assignment", "small", "large"]


@pytest.fixture(scope="module", params=list(NETWORKS))
def network(request):
    """(net, θ, X, Y, correct gradient); the assignment's network uses its classic case."""
    sizes, m, n_params = NETWORKS[request.param]
    net = directional.LayeredNetwork(sizes)
    assert net.n_params == n_params
    if request.param == "assignment":
        case = cases.classic_case()
        theta = reference.dictionary_to_vector(case.parameters)[0].ravel()
        X, Y = case.X, case.Y
    else:
        theta, (X, Y) = net.init(seed=1), net.data(m, seed=2)
    return net, theta, X, Y, net.gradient(theta, X, Y)


def relative_size(grad, true_grad) -> float:
    """D = ‖e‖ / (2‖g‖): the bug's size as the directional check measures it."""
    return float(np.linalg.norm(grad - true_grad) / (2 * np.linalg.norm(grad)))


# ---- the layered network is a faithful generalisation of the reference ---------------------

def test_layered_network_of_sizes_4_5_3_1_is_the_assignment_network():
    case = cases.classic_case()
    theta = reference.dictionary_to_vector(case.parameters)[0]
    cost, cache = reference.forward_propagation_n(case.X, case.Y, case.parameters)
    net = directional.LayeredNetwork((4, 5, 3, 1))
    assert net.cost(theta, case.X, case.Y) == pytest.approx(cost, rel=1e-13)
    expected = reference.gradients_to_vector(reference.backward_propagation_n(case.X, case.Y, cache)).ravel()
    np.testing.assert_allclose(net.gradient(theta, case.X, case.Y), expected, rtol=1e-12, atol=1e-15)


def test_layered_network_backprop_agrees_with_the_plain_loop():
    net = directional.LayeredNetwork((20, 30, 20, 1))
    theta, (X, Y) = net.init(seed=1), net.data(16, seed=2)
    approx = central_difference(lambda t: net.cost(t, X, Y), theta, 1e-5)
    assert reference.relative_difference(net.gradient(theta, X, Y), approx) < THRESHOLD


# ---- correct gradients pass, planted bugs fail ----------------------------------------------

def test_correct_gradient_passes_with_a_tenfold_noise_margin(network):
    net, theta, X, Y, grad = network
    result = net.check(theta, X, Y, grad)
    assert result.passed, result.message()
    # The stated miss probabilities assume r_η ≤ τ/10 (module docstring).
    assert result.differences.max() <= directional.THRESHOLD / 10, result.differences


def plant(name: str, net, grad):
    """The gradient with one planted bug, and the block it is in."""
    bad, blocks = grad.copy(), net.blocks
    if name == "W2 doubled":
        bad[blocks["W2"]] *= 2
        return bad, "W2"
    if name == "b2 sign flipped":
        bad[blocks["b2"]] *= -1
        return bad, "b2"
    if name == "one W1 component doubled":
        # A typical component: the one whose |dJ/dθ| is the median of W1's.
        w1 = np.arange(net.n_params)[blocks["W1"]]
        j = w1[np.argsort(np.abs(grad[blocks["W1"]]))[w1.size // 2]]
        bad[j] *= 2
        return bad, "W1"
    raise KeyError(name)


BUGS = ["W2 doubled", "b2 sign flipped", "one W1 component doubled"]


@pytest.mark.parametrize("network", BUG_NETWORKS, indirect=True)
@pytest.mark.parametrize("bug", BUGS)
def test_planted_bug_fails_and_the_blockwise_follow_up_names_its_block(network, bug):
    net, theta, X, Y, grad = network
    bad, block = plant(bug, net, grad)
    size = relative_size(bad, grad)
    # The bug is one the check is built for: its miss probability is negligible.
    assert directional.miss_probability(net.n_params, size, noise=directional.THRESHOLD / 10) < 1e-12, size
    result = net.check(theta, X, Y, bad)
    assert result.status == "failed", result.message()
    assert result.estimate == pytest.approx(size, rel=1.0)  # an RMS of 8: right order only
    blockwise = net.check(theta, X, Y, bad, blockwise=True)
    assert {name for name, r in blockwise.items() if not r.passed} == {block}
    message = blockwise[block].message()
    assert message.startswith(f"block {block}: the gradient is wrong"), message
    scale = {"W2 doubled": "gives 2 × the numerical value", "b2 sign flipped": "gives -1 × the numerical value"}
    if bug in scale:
        assert scale[bug] in message, message


@pytest.mark.parametrize("network", ["huge"], indirect=True)
@pytest.mark.parametrize("bug", BUGS)
def test_planted_bug_fails_at_nearly_a_million_parameters(network, bug):
    net, theta, X, Y, grad = network
    bad, _ = plant(bug, net, grad)
    assert net.check(theta, X, Y, bad).status == "failed"


def test_classic_planted_bugs_with_the_batched_reference_cost():
    case = cases.classic_case()
    theta = reference.dictionary_to_vector(case.parameters)[0]
    bad = reference.gradients_to_vector(cases.classic_buggy_gradients(case))
    options = dict(batched=True, piece=lambda thetas: cases.activation_pattern(case.X, thetas))
    cost = lambda thetas: reference.batched_cost(case.X, case.Y, thetas)  # noqa: E731
    result = directional.directional_check(cost, theta, bad, **options)
    assert result.status == "failed"
    assert "run blockwise_check" in result.message()
    blocks = directional.LayeredNetwork((4, 5, 3, 1)).blocks
    blockwise = directional.blockwise_check(cost, theta, bad, blocks, **options)
    assert {name for name, r in blockwise.items() if not r.passed} == {"W2", "b1"}
    assert blockwise["W2"].scale_factor == pytest.approx(2, rel=1e-6)
    assert blockwise["b1"].scale_factor == pytest.approx(4, rel=1e-6)


def test_batched_and_plain_costs_draw_the_same_directions():
    case = cases.classic_case()
    theta = reference.dictionary_to_vector(case.parameters)[0].ravel()
    net = directional.LayeredNetwork((4, 5, 3, 1))
    grad = net.gradient(theta, case.X, case.Y)
    batched = directional.directional_check(lambda t: reference.batched_cost(case.X, case.Y, t), theta, grad, batched=True)
    plain = directional.directional_check(lambda t: net.cost(t, case.X, case.Y), theta, grad)
    np.testing.assert_allclose(batched.analytic, plain.analytic, rtol=1e-14)
    np.testing.assert_allclose(batched.numerical, plain.numerical, rtol=1e-7)
    assert batched.passed and plain.passed


def test_theta_on_a_relu_kink_is_inconclusive_not_a_false_failure():
    net = directional.LayeredNetwork((20, 30, 20, 1))
    theta, (X, Y) = net.init(seed=1), net.data(16, seed=2)
    W1 = theta[net.blocks["W1"]].reshape(30, 20)
    theta[net.blocks["b1"].start] = -(W1[0] @ X[:, 0])  # Z1[0, 0] = 0: θ sits on a kink
    grad = net.gradient(theta, X, Y)
    blind = directional.directional_check(lambda t: net.cost(t, X, Y), theta, grad)
    assert blind.status == "failed"  # without the sign pattern, the kink looks like a bug
    result = net.check(theta, X, Y, grad)
    assert result.status == "inconclusive"
    assert "kink" in result.message()


# ---- float64 ---------------------------------------------------------------------------------

def test_float64_is_required():
    net = directional.LayeredNetwork((20, 30, 20, 1))
    theta, (X, Y) = net.init(seed=1), net.data(16, seed=2)
    grad = net.gradient(theta, X, Y)
    assert theta.dtype == grad.dtype == np.float64
    cost = lambda t: net.cost(t, X, Y)  # noqa: E731
    with pytest.raises(TypeError, match="float64"):
        directional.directional_check(cost, theta.astype(np.float32), grad)
    with pytest.raises(TypeError, match="float64"):
        directional.directional_check(cost, theta, grad.astype(np.float32))
    with pytest.raises(TypeError, match="float64"):
        directional.directional_check(lambda t: np.float32(cost(t)), theta, grad)
    assert directional.random_directions(10, 3, np.random.default_rng(0)).dtype == np.float64


# ---- the stated chance of missing a bug ------------------------------------------------------

def test_coordinate_distribution_exact_cases_and_bound():
    assert directional.sphere_coordinate_cdf(3, 0.3) == pytest.approx(0.3)  # uniform on [-1, 1] in R^3
    assert directional.sphere_coordinate_cdf(2, 0.5) == pytest.approx(2 / math.pi * math.asin(0.5))
    assert directional.sphere_coordinate_cdf(919_553, 1e-3) == pytest.approx(math.erf(1e-3 * math.sqrt(919_553 / 2)), rel=1e-5)
    for n in (2, 3, 4, 47, 1_271, 108_161, 919_553):
        for delta in (1e-5, 1e-3, 0.01, 0.1, 0.5, 0.99):
            assert directional.sphere_coordinate_cdf(n, delta) <= directional.sphere_coordinate_bound(n, delta) + 1e-12
            assert directional.sphere_coordinate_bound(n, delta) <= delta * math.sqrt(2 * n / math.pi) + 1e-12


@pytest.mark.parametrize("n", [47, 1_271])
def test_coordinate_distribution_matches_sampling(n):
    u = directional.random_directions(n, 5_000, np.random.default_rng(5))
    for delta in (0.3 / math.sqrt(n), 1 / math.sqrt(n)):
        expected = directional.sphere_coordinate_cdf(n, delta)
        sigma = math.sqrt(expected * (1 - expected) / u.shape[1])
        assert abs(np.mean(np.abs(u[0]) <= delta) - expected) < 4 * sigma


@pytest.mark.parametrize("n", [47, 108_161, 919_553])
def test_stated_defaults_table(n):
    """The table in the module docstring, for r_η = τ/10, holds at every size."""
    tau = directional.THRESHOLD
    for size, per_direction, k_directions in [(2 * tau, 0.44, 1.4e-3), (10 * tau, 0.088, 3.6e-9), (100 * tau, 0.0088, 3.6e-17)]:
        assert directional.miss_probability(n, size, noise=tau / 10, directions=1) <= per_direction
        assert directional.miss_probability(n, size, noise=tau / 10) <= k_directions


@pytest.mark.parametrize("sizes, m, directions, trials", [((4, 5, 3, 1), 3, 1, 400), ((20, 30, 20, 1), 16, 1, 400),
                                                          ((20, 30, 20, 1), 16, 2, 300)])
def test_empirical_miss_rate_agrees_with_the_stated_probability(sizes, m, directions, trials):
    """A bug sized so one direction misses it ~40% of the time: count misses over seeded checks.

    Threshold 1e-3, far above the float error of the difference, so the exact formula applies.
    """
    net = directional.LayeredNetwork(sizes)
    if sizes == (4, 5, 3, 1):
        case = cases.classic_case()
        theta, X, Y = reference.dictionary_to_vector(case.parameters)[0].ravel(), case.X, case.Y
    else:
        theta, (X, Y) = net.init(seed=1), net.data(m, seed=2)
    n, tau, grad = net.n_params, 1e-3, net.gradient(theta, X, Y)
    # Per-direction miss probability 0.4: solve for δ, then scale W2 by (1 + c) to get D = τ/(√n δ).
    low, high = 0.0, 1.0
    for _ in range(60):
        delta = (low + high) / 2
        low, high = (delta, high) if directional.sphere_coordinate_cdf(n, delta) < 0.4 else (low, delta)
    target, low, high = tau / (math.sqrt(n) * delta), 0.0, 1.0
    for _ in range(60):
        c = (low + high) / 2
        bad = grad.copy()
        bad[net.blocks["W2"]] *= 1 + c
        low, high = (c, high) if relative_size(bad, grad) < target else (low, c)
    size = relative_size(bad, grad)
    exact = directional.miss_probability(n, size, tau, directions, exact=True)
    bound = directional.miss_probability(n, size, tau, directions)
    assert exact == pytest.approx(0.4 ** directions, rel=1e-3)
    missed = sum(net.check(theta, X, Y, bad, directions=directions, threshold=tau, seed=s).passed
                 for s in range(trials))
    rate, sigma = missed / trials, math.sqrt(exact * (1 - exact) / trials)
    print(f"n={n} k={directions}: missed {missed}/{trials} = {rate:.3f}; exact {exact:.3f}, bound {bound:.3f}")
    assert abs(rate - exact) < 4 * sigma, (rate, exact, bound)
    assert rate < bound + 4 * sigma
