"""Micro-benchmark of the reference numerics: plain loop, vectorised batch, directional check.

    .venv/bin/python benchmarks/reference_numerics.py

Times, in one run, with time.perf_counter (median of repeats, after a warm-up call):

* the assignment's 47-parameter network (the classic case): the plain per-component loop
  (numerics.central_difference over reference.forward_propagation_n), the vectorised
  reference.numerical_gradient_n (all 2N perturbed costs in one batch), and the directional
  check (k random directions, batched reference cost, ReLU pattern test);
* a layered network of ~10⁶ parameters: the directional check against the full loop, which
  is extrapolated from a timed sample of components (2N ≈ 1.8 million forward passes would take
  hours).

Prints a table and writes it to benchmarks/results/reference_numerics.md with the machine.
Exits 1, with a FAIL line, when the vectorised 47-parameter check takes 10 ms or more.

BLAS runs on one thread unless OPENBLAS_NUM_THREADS (or OMP_/MKL_NUM_THREADS) says otherwise:
every row does the same kind of forward pass, so the ratios do not depend on it, and a threaded
OpenBLAS on a busy machine spins and makes single timings swing by 5x or more.
"""
from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # before numpy loads its BLAS

import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.course import graders  # noqa: E402
from autograder.grading import directional  # noqa: E402
from autograder.grading.numerics import central_difference, relative_difference  # noqa: E402

cases = graders.module("gradient_checking", "cases")
reference = graders.module("gradient_checking", "reference")

RESULTS = ROOT / "benchmarks" / "results" / "reference_numerics.md"
#: The issue's budget for the vectorised 47-parameter check.
BUDGET_MS = 10.0
#: The large network: 256 features, three ReLU layers, one sigmoid output; 128 examples.
LARGE_SIZES, LARGE_EXAMPLES = (256, 1024, 512, 256, 1), 128
#: Components of the large network timed to extrapolate the full loop.
LOOP_SAMPLE = 24


def median_ms(function, repeats: int, number: int = 1) -> float:
    """Median over repeats of the mean time of `number` calls, in milliseconds (one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            function()
        times.append((time.perf_counter() - start) / number)
    return 1e3 * statistics.median(times)


def classic_rows() -> list[tuple]:
    case = cases.classic_case()
    X, Y, parameters = case.X, case.Y, case.parameters
    theta, _ = reference.dictionary_to_vector(parameters)
    _, cache = reference.forward_propagation_n(X, Y, parameters)
    grad = reference.gradients_to_vector(reference.backward_propagation_n(X, Y, cache))
    n, k = reference.N_PARAMS, directional.DIRECTIONS

    def cost(t):
        return reference.forward_propagation_n(X, Y, reference.vector_to_dictionary(t))[0]

    def loop():
        return central_difference(cost, theta, reference.REFERENCE_EPSILON)

    def vectorised():
        return reference.numerical_gradient_n(X, Y, parameters)

    def directional():
        return directional.directional_check(lambda t: reference.batched_cost(X, Y, t), theta, grad, batched=True,
                                    piece=lambda t: cases.activation_pattern(X, t))

    assert relative_difference(loop(), vectorised()) < 1e-9  # the same numbers, faster
    assert directional().passed
    loop_ms = median_ms(loop, repeats=15)
    return [
        (f"classic, N = {n}", "plain loop (numerics.central_difference)", f"{2 * n} passes", loop_ms, loop_ms),
        (f"classic, N = {n}", "vectorised (numerical_gradient_n)", f"{2 * n} in 1 batch",
         median_ms(vectorised, repeats=15, number=20), loop_ms),
        (f"classic, N = {n}", f"directional, k = {k} (batched)", f"{2 * k} + {2 * k + 1} pattern in 3 batches",
         median_ms(directional, repeats=15, number=20), loop_ms),
    ]


def large_rows() -> list[tuple]:
    net = directional.LayeredNetwork(LARGE_SIZES)
    theta, (X, Y) = net.init(seed=1), net.data(LARGE_EXAMPLES, seed=2)
    n, k, eps = net.n_params, directional.DIRECTIONS, directional.EPSILON
    grad = net.gradient(theta, X, Y)
    sample = np.random.default_rng(0).choice(n, size=LOOP_SAMPLE, replace=False)

    def loop_sample():  # the body of central_difference's loop, for a sample of components
        for i in sample:
            plus, minus = theta.copy(), theta.copy()
            plus.flat[i] += eps
            minus.flat[i] -= eps
            (net.cost(plus, X, Y) - net.cost(minus, X, Y)) / (2 * eps)

    result = net.check(theta, X, Y, grad)
    assert result.passed, result.message()
    loop_ms = median_ms(loop_sample, repeats=5) / LOOP_SAMPLE * n
    label = f"layered {'-'.join(map(str, LARGE_SIZES))}, N = {n:,}"
    return [
        (label, f"plain loop (extrapolated from {LOOP_SAMPLE} components)", f"{2 * n:,} passes", loop_ms, loop_ms),
        (label, "backprop, for scale (one gradient)", "1 forward + 1 backward",
         median_ms(lambda: net.gradient(theta, X, Y), repeats=5), None),
        (label, f"directional, k = {k} (plain cost)", f"{2 * k} + {2 * k + 1} pattern",
         median_ms(lambda: net.check(theta, X, Y, grad), repeats=7), loop_ms),
        (label, f"directional, k = {k}, no kink test", f"{2 * k}",
         median_ms(lambda: directional.directional_check(lambda t: net.cost(t, X, Y), theta, grad), repeats=7), loop_ms),
    ]


def format_ms(ms: float) -> str:
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.3g}"


def table(rows) -> list[str]:
    lines = ["| network | method | forward passes | median ms | × faster than the loop |",
             "|---|---|---|---:|---:|"]
    for network, method, passes, ms, loop_ms in rows:
        ratio = "—" if loop_ms is None else f"{loop_ms / ms:,.0f}"
        lines.append(f"| {network} | {method} | {passes} | {format_ms(ms)} | {ratio} |")
    return lines


def miss_table() -> list[str]:
    tau, k = directional.THRESHOLD, directional.DIRECTIONS
    sizes = [(2, "2τ"), (10, "10τ"), (100, "100τ")]
    lines = [f"Chance that the directional check (k = {k}, ε = {directional.EPSILON:g}, τ = {tau:g}) passes a "
             "gradient whose relative error is D = ‖e‖/(2‖g‖), bound (δ·sqrt(2(N−1)/π))^k with "
             "δ = (τ + r_η)/(√N·D), for float error r_η = τ/10:", "",
             "| N | " + " | ".join(f"D = {name}" for _, name in sizes) + " |",
             "|---:|" + "---:|" * len(sizes)]
    for n in (47, 1_271, 108_161, 919_553):
        cells = [f"{directional.miss_probability(n, f * tau, noise=tau / 10):.1e}" for f, _ in sizes]
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    start, load = time.perf_counter(), os.getloadavg()[0]
    rows = classic_rows() + large_rows()
    seconds = time.perf_counter() - start
    vectorised_ms = rows[1][3]
    verdict = (f"OK: the vectorised 47-parameter check takes {vectorised_ms:.3g} ms (budget {BUDGET_MS:g} ms)"
               if vectorised_ms < BUDGET_MS else
               f"FAIL: the vectorised 47-parameter check takes {vectorised_ms:.3g} ms, budget {BUDGET_MS:g} ms")
    machine = (f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
               f"Python {platform.python_version()}, numpy {np.__version__}, "
               f"BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}")
    lines = ["# Reference numerics: micro-benchmark", "",
             f"Machine: {machine}; load average {load:.2f} at the start (other work on the machine "
             "slows the large network's rows most).", "",
             "Median of repeats, `time.perf_counter`, written by `benchmarks/reference_numerics.py` "
             f"in {seconds:.1f} s.", "", *table(rows), "", *miss_table(), "", verdict + ".", ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    partial = RESULTS.with_suffix(".md.tmp")
    partial.write_text("\n".join(lines), encoding="utf-8")
    os.replace(partial, RESULTS)
    print("\n".join(lines[2:]))
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0 if vectorised_ms < BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
