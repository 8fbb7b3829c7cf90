"""Grading throughput: plain nbgrader, `autograder grade`, and the floor, timed in one run.

    .venv/bin/python benchmarks/grading.py              # N = 100, --jobs = cores (5-7 min on 2 cores)
    .venv/bin/python benchmarks/grading.py --n 41,100   # both class sizes of issue 12, one run
    .venv/bin/python benchmarks/grading.py --quick      # N = 10: a smoke run
    .venv/bin/python benchmarks/grading.py --n 40 --jobs 2 --out /tmp/bench --keep

Makes N submissions of `gradient_checking` (seeded: ~40% correct, written three ways; the rest
with one realistic planted bug each), then times, one after the other on this machine:

  (a) plain nbgrader: ONE sequential `nbgrader autograde gradient_checking` over all N, in a copy
      of the course (nbgrader's defaults; its `generate_assignment` is timed separately);
  (b) `autograder grade FOLDER --jobs J --out DIR`, the CLI as an instructor runs it (its own
      set-up included);
  (d) the same with `--cluster local`: a Dask LocalCluster of J worker processes (its start
      included), to decide by measurement which executor is the default;
  (c) the floor: per notebook a fresh `python -c CODE` that imports numpy, reads the notebook and
      execs its solution cells and the notebook's own calls of them (no kernel, no nbgrader) —
      sequentially and J at a time. The cost ratio of (b) uses the J-parallel floor.

It prints a table (seconds, submissions per minute, seconds per notebook, CPU seconds per
notebook, ratios), PASS/FAIL for the issue's targets — (b) ≥ 5× the throughput of (a); (b)'s
per-notebook cost within 3× of the floor — and writes the table and the machine to
RESULTS/grading.md and all numbers to RESULTS/grading.json. A FAIL does not change the exit
status: the point is to measure honestly. The exit status is 1 only when a method could not run.

Measurement, without depending on autograder internals (only the CLI and its output folder:
grades.csv, grades_by_exercise.csv, verdicts/<student>/<assignment>.json):
  * wall time: time.perf_counter around each method; CPU time: getrusage(RUSAGE_CHILDREN)
    before and after (every waited-for descendant: workers, kernels, judge children);
  * memory: a thread samples the process tree every --interval s with psutil, reading each
    process's exact peak resident set (VmHWM from /proc) and the resident sum of each worker's
    tree; each floor process reports its own VmHWM as it ends;
  * where the time goes, per notebook: the lifetimes of the worker processes (one per student
    or long-lived, either way) and of their kernels, judge_seconds from each verdict record, and
    feedback from the mtimes of the autograded notebook and the feedback HTML; CPU by process
    role. Roles are recognised by arguments (see role_of), so the split is best effort and
    says what it could not attribute.

`--autograder DIR` runs (b) from another checkout (say, an older commit) to compare designs.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "gradient_checking"
RESULTS = ROOT / "benchmarks" / "results"
#: The issue's targets (issue 12), on the 2-core machines, at N = 41 and N = 100.
TARGET_SPEEDUP = 5.0        # (b) throughput ≥ this × (a)'s
TARGET_FLOOR_RATIO = 3.0    # (b) seconds per notebook ≤ this × the floor's (same parallelism)
CORRECT_SHARE = 0.4
SEED = 20240905
MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*\n", re.MULTILINE)
#: Cells the floor runs besides the solution cells: the notebook's own calls of the functions
#: (the epsilon plot is left out: it needs matplotlib, which the floor does not import).
FLOOR_CALL_CELLS = ("run_gradient_check", "run_gradient_check_n")

# ---------------------------------------------------------------------------------------------
# The class: correct submissions written three ways, and realistic planted bugs
# ---------------------------------------------------------------------------------------------

#: Correct submissions: {kind: [(function, old, new), ...]} edits of the instructor's solution.
CORRECT = {
    "ok_instructor": [],
    "ok_matmul_mean": [
        ("forward_propagation", "J = theta * x", "J = np.multiply(theta, x)"),
        ("forward_propagation_n", """    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)

    log_probs = np.multiply(-np.log(A3), Y) + np.multiply(-np.log(1 - A3), 1 - Y)
    cost = 1.0 / m * np.sum(log_probs)""", """    Z1 = W1 @ X + b1
    A1 = np.maximum(Z1, 0)
    Z2 = W2 @ A1 + b2
    A2 = np.maximum(Z2, 0)
    Z3 = W3 @ A2 + b3
    A3 = 1 / (1 + np.exp(-Z3))
    cost = np.mean(-(Y * np.log(A3) + (1 - Y) * np.log(1 - A3)))"""),
        ("backward_propagation_n", """    dZ3 = A3 - Y
    dW3 = 1.0 / m * np.dot(dZ3, A2.T)
    db3 = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)

    dA2 = np.dot(W3.T, dZ3)
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1.0 / m * np.dot(dZ2, A1.T)
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)

    dA1 = np.dot(W2.T, dZ2)
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1.0 / m * np.dot(dZ1, X.T)
    db1 = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)""", """    dZ3 = A3 - Y
    dW3 = dZ3 @ A2.T / m
    db3 = np.mean(dZ3, axis=1, keepdims=True)
    dA2 = W3.T @ dZ3
    dZ2 = dA2 * (Z2 > 0)
    dW2 = dZ2 @ A1.T / m
    db2 = np.mean(dZ2, axis=1, keepdims=True)
    dA1 = W2.T @ dZ2
    dZ1 = dA1 * (Z1 > 0)
    dW1 = dZ1 @ X.T / m
    db1 = np.mean(dZ1, axis=1, keepdims=True)"""),
        ("vector_to_dictionary", """    parameters["W1"] = theta[:20].reshape((5, 4))
    parameters["b1"] = theta[20:25].reshape((5, 1))
    parameters["W2"] = theta[25:40].reshape((3, 5))
    parameters["b2"] = theta[40:43].reshape((3, 1))
    parameters["W3"] = theta[43:46].reshape((1, 3))
    parameters["b3"] = theta[46:47].reshape((1, 1))""", """    start = 0
    for key, shape in [("W1", (5, 4)), ("b1", (5, 1)), ("W2", (3, 5)),
                       ("b2", (3, 1)), ("W3", (1, 3)), ("b3", (1, 1))]:
        size = shape[0] * shape[1]
        parameters[key] = theta[start:start + size].reshape(shape)
        start += size"""),
    ],
    "ok_classic_loops": [
        ("dictionary_to_vector", """    keys = []
    columns = []
    for key in ["W1", "b1", "W2", "b2", "W3", "b3"]:
        column = np.reshape(parameters[key], (-1, 1))
        columns.append(column)
        keys = keys + [key] * column.shape[0]
    theta = np.concatenate(columns, axis=0)""", """    keys = []
    count = 0
    for key in ["W1", "b1", "W2", "b2", "W3", "b3"]:
        new_vector = np.reshape(parameters[key], (-1, 1))
        keys = keys + [key] * new_vector.shape[0]
        if count == 0:
            theta = new_vector
        else:
            theta = np.concatenate((theta, new_vector), axis=0)
        count = count + 1"""),
        ("gradients_to_vector", """    columns = [np.reshape(gradients[key], (-1, 1))
               for key in ["dW1", "db1", "dW2", "db2", "dW3", "db3"]]
    theta = np.concatenate(columns, axis=0)""", """    theta = np.concatenate([gradients[key].ravel() for key in
                            ("dW1", "db1", "dW2", "db2", "dW3", "db3")]).reshape(-1, 1)"""),
        ("forward_propagation_n", "cost = 1.0 / m * np.sum(log_probs)",
         "cost = -1.0 / m * (np.dot(Y, np.log(A3).T) + np.dot(1 - Y, np.log(1 - A3).T))"),
        ("gradient_check_n", """        theta_plus = np.copy(parameters_values)
        theta_plus[i] = theta_plus[i] + epsilon
        J_plus[i], _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_plus))

        theta_minus = np.copy(parameters_values)
        theta_minus[i] = theta_minus[i] - epsilon
        J_minus[i], _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_minus))""",
         """        theta_plus = np.copy(parameters_values)
        theta_plus[i][0] += epsilon
        J_plus[i] = forward_propagation_n(X, Y, vector_to_dictionary(theta_plus))[0]

        theta_minus = np.copy(parameters_values)
        theta_minus[i][0] -= epsilon
        J_minus[i] = forward_propagation_n(X, Y, vector_to_dictionary(theta_minus))[0]"""),
        ("gradient_check", """    numerator = np.linalg.norm(grad - gradapprox)
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)""",
         """    numerator = np.sqrt(np.sum((grad - gradapprox) ** 2))
    denominator = np.sqrt(np.sum(grad ** 2)) + np.sqrt(np.sum(gradapprox ** 2))"""),
    ],
}

#: Buggy submissions: {kind: (function, old, new)}; new = None leaves the release's stub there
#: (not attempted). No bug loops forever: a timeout would measure the limits, not throughput.
BUGS = {
    "fp_adds": ("forward_propagation", "J = theta * x", "J = theta + x"),
    "bp_returns_theta": ("backward_propagation", "dtheta = x", "dtheta = theta"),
    "gc_one_sided": ("gradient_check", "gradapprox = (J_plus - J_minus) / (2 * epsilon)",
                     "gradapprox = (J_plus - forward_propagation(x, theta)) / epsilon"),
    "gc_eps_not_2eps": ("gradient_check", "gradapprox = (J_plus - J_minus) / (2 * epsilon)",
                        "gradapprox = (J_plus - J_minus) / epsilon"),
    "d2v_column_major": ("dictionary_to_vector", "column = np.reshape(parameters[key], (-1, 1))",
                         'column = np.reshape(parameters[key], (-1, 1), order="F")'),
    "v2d_W1_transposed": ("vector_to_dictionary", 'parameters["W1"] = theta[:20].reshape((5, 4))',
                          'parameters["W1"] = theta[:20].reshape((4, 5)).T'),
    "g2v_key_order": ("gradients_to_vector", 'for key in ["dW1", "db1", "dW2", "db2", "dW3", "db3"]]',
                      'for key in ["dW1", "dW2", "dW3", "db1", "db2", "db3"]]'),
    "fpn_cost_no_mean": ("forward_propagation_n", "cost = 1.0 / m * np.sum(log_probs)", "cost = np.sum(log_probs)"),
    "fpn_sigmoid_hidden": ("forward_propagation_n", "A2 = relu(Z2)", "A2 = sigmoid(Z2)"),
    "bpn_dW2_doubled": ("backward_propagation_n", "dW2 = 1.0 / m * np.dot(dZ2, A1.T)",
                        "dW2 = 1.0 / m * np.dot(dZ2, A1.T) * 2"),
    "bpn_db1_times_4": ("backward_propagation_n", "db1 = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)",
                        "db1 = 4.0 / m * np.sum(dZ1, axis=1, keepdims=True)"),
    "bpn_relu_mask_ge": ("backward_propagation_n", "dZ2 = np.multiply(dA2, np.int64(A2 > 0))",
                         "dZ2 = np.multiply(dA2, np.int64(A2 >= 0))"),
    "bpn_W2_not_transposed": ("backward_propagation_n", "dA1 = np.dot(W2.T, dZ2)", "dA1 = np.dot(W2, dZ2)"),
    "gcn_one_sided": ("gradient_check_n", "gradapprox[i] = (J_plus[i] - J_minus[i]) / (2 * epsilon)",
                      "gradapprox[i] = (J_plus[i] - forward_propagation_n(X, Y, parameters)[0]) / epsilon"),
    "gcn_theta_not_copied": ("gradient_check_n", "theta_plus = np.copy(parameters_values)",
                             "theta_plus = parameters_values"),
    "gcn_not_attempted": ("gradient_check_n", None, None),
    "bpn_not_attempted": ("backward_propagation_n", None, None),
}


def _cells_by_id(nb) -> dict:
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def solved_release() -> nbformat.NotebookNode:
    """The release notebook with every solution cell holding the instructor's answer."""
    source = nbformat.read(ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    release = nbformat.read(ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    answers = {gid: MARKERS.sub("", c.source) for gid, c in _cells_by_id(source).items()
               if c.metadata.get("nbgrader", {}).get("solution")}
    for gid, cell in _cells_by_id(release).items():
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in answers:
            cell.source = answers[gid]
    return release


def _edited(solved, release, edits) -> nbformat.NotebookNode:
    nb = copy.deepcopy(solved)
    cells, stubs = _cells_by_id(nb), _cells_by_id(release)
    for function, old, new in edits:
        cell = cells[function]
        if old is None:
            cell.source = stubs[function].source
            continue
        if cell.source.count(old) != 1:
            raise SystemExit(f"benchmark out of date: {old!r} is not found exactly once in the {function} cell")
        cell.source = cell.source.replace(old, new)
    return nb


def make_class(n: int, seed: int = SEED) -> list[tuple[str, str, nbformat.NotebookNode]]:
    """[(student_id, kind, notebook)]: round(0.4 n) correct, the rest buggy, shuffled by seed.

    Every notebook is unique (a comment naming the student), as a real class's would be, so
    no content cache can make the class look smaller than it is.
    """
    release = nbformat.read(ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    solved = solved_release()
    n_correct = round(CORRECT_SHARE * n)
    correct, bugs = list(CORRECT), list(BUGS)
    kinds = [correct[i % len(correct)] for i in range(n_correct)] + [bugs[i % len(bugs)] for i in range(n - n_correct)]
    random.Random(seed).shuffle(kinds)
    made = []
    for i, kind in enumerate(kinds, 1):
        student = f"s{i:03d}"
        nb = _edited(solved, release, CORRECT[kind] if kind in CORRECT else [BUGS[kind]])
        first = _cells_by_id(nb)["forward_propagation"]
        first.source = f"# {student}\n" + first.source
        made.append((student, kind, nb))
    return made


def write_class(made, flat: Path, course: Path) -> None:
    """The class as a flat folder of <student>.ipynb (for b) and in nbgrader's layout (for a)."""
    flat.mkdir(parents=True, exist_ok=True)
    for student, _, nb in made:
        nbformat.write(nb, flat / f"{student}.ipynb")
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")


# ---------------------------------------------------------------------------------------------
# Measuring: CPU of descendants, and a sampler of the process tree's memory and lifetimes
# ---------------------------------------------------------------------------------------------

def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def judged_children_cpu(out: Path) -> float:
    """CPU of the judge's children, from the verdict records: the zygote's children are reaped
    outside this process tree, so getrusage never counts them (the judge reads them from /proc)."""
    total = 0.0
    for record in (out / "verdicts").glob(f"*/{ASSIGNMENT}.json") if (out / "verdicts").is_dir() else []:
        try:
            total += float(json.loads(record.read_text(encoding="utf-8")).get("child_cpu_seconds", 0.0))
        except (OSError, ValueError, TypeError):
            pass
    return total


def _hwm_kb(pid: int) -> int | None:
    """Peak resident set of a live process (VmHWM), in KiB; None off Linux or once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def role_of(cmdline: list[str], parent_role: str | None, name: str = "") -> str:
    """What a process in the grading tree is, from its arguments (never from a -c program's text).

    kernel: a Jupyter kernel; worker: `-m autograder.pipeline.workers.worker` (one per student or
    long-lived; under a Dask worker too); feedback helper: a worker's fork that renders its
    feedback pages; dask worker: a LocalCluster's worker process; sandbox: anything else a worker
    started (the judge's child, a warm zygote and the children it forks) and the zygote `grade`
    shares with its workers; other: the rest (e.g. nbgrader's alembic).
    """
    if any(a in ("ipykernel_launcher", "ipykernel") or a.endswith("ipykernel_launcher.py") for a in cmdline):
        return "kernel"
    if "autograder.pipeline.workers.worker" in cmdline or name == "grading-worker":  # spawned, or forked by `grade`
        # a worker's fork with its command line: the helper that renders its feedback pages
        return "feedback helper" if parent_role == "worker" else "worker"
    if parent_role == "orchestrator" and any("multiprocessing" in a for a in cmdline):
        return "dask worker"
    if parent_role in ("worker", "sandbox"):
        return "sandbox"
    if parent_role == "orchestrator" and cmdline[1:2] == ["-I"] and len(cmdline) > 2 and (
            cmdline[2] == "-c" or os.path.basename(cmdline[2]) == "zygote.py"):
        return "sandbox"  # the warm zygote `grade` starts for its workers to share; the isolation probe
    return "other"


class TreeSampler(threading.Thread):
    """Samples a process tree every `interval` s: per process its role, lifetime, peak RSS (VmHWM)
    and CPU; per sample the resident sum of the tree and the largest worker subtree."""

    def __init__(self, root_pid: int, interval: float, root_role: str, started: float):
        super().__init__(daemon=True)
        self.root_pid, self.interval, self.root_role = root_pid, interval, root_role
        self.started = started  # time.time() just before the root was spawned
        self.offset = 0.0  # psutil's create_time (boot time in whole seconds + ticks) minus time.time()
        self.procs: dict[tuple[int, float], dict] = {}
        self.series: list[tuple[float, int, int, int]] = []  # (time, tree KiB, max worker subtree, max worker)
        self.root_rss: list[int] = []  # the root's resident KiB at each sample
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def run(self) -> None:
        import psutil
        try:
            root = psutil.Process(self.root_pid)
            self.offset = root.create_time() - self.started
        except psutil.Error:
            return
        while not self._halt.is_set():
            self._sample(psutil, root)
            self._halt.wait(self.interval)

    def _sample(self, psutil, root) -> None:
        try:
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            return
        now, rss, parent_of, latest = time.time(), {}, {}, {}
        for p in procs:
            try:
                with p.oneshot():
                    if p.status() == psutil.STATUS_ZOMBIE:
                        continue  # exited: no command line, memory or CPU left to read
                    key = (p.pid, p.create_time())
                    info = self.procs.get(key)
                    if info is None:
                        info = self.procs[key] = {"pid": p.pid, "ppid": p.ppid(), "created": key[1] - self.offset,
                                                  "peak_kb": 0, "cpu": 0.0, "last_seen": now}
                    latest[p.pid] = key
                    # Read every time: a child shows its parent's command line until it execs.
                    info["cmdline"] = p.cmdline()
                    info["name"] = p.name()
                    info["last_seen"] = now
                    resident = p.memory_info().rss // 1024
                    info["peak_kb"] = max(info["peak_kb"], _hwm_kb(p.pid) or resident)
                    times = p.cpu_times()
                    info["cpu"] = times.user + times.system
                    rss[key] = resident
            except psutil.Error:
                continue
        for key in rss:  # roles top-down: a sandbox is known by its worker ancestor
            parent_of[key] = latest.get(self.procs[key]["ppid"])
        for key in sorted(rss, key=lambda k: self._depth(k, parent_of)):
            info = self.procs[key]
            parent = self.procs.get(parent_of[key]) if parent_of[key] else None
            cmdline, name = info.pop("cmdline", None), info.pop("name", "")
            if key[0] == self.root_pid:
                info["role"] = self.root_role
            elif cmdline or "role" not in info:  # an exiting process may show no command line
                info["role"] = role_of(cmdline or [], parent.get("role") if parent else None, name)
        if latest.get(self.root_pid) in rss:
            self.root_rss.append(rss[latest[self.root_pid]])
        workers = [k for k in rss if self.procs[k]["role"] == "worker"]
        subtrees = [sum(v for k, v in rss.items() if self._under(k, w, parent_of)) for w in workers]
        self.series.append((now, sum(rss.values()), max(subtrees, default=0),
                            max((rss[w] for w in workers), default=0)))

    @staticmethod
    def _depth(key, parent_of) -> int:
        depth = 0
        while parent_of.get(key) and depth < 32:
            key, depth = parent_of[key], depth + 1
        return depth

    @staticmethod
    def _under(key, ancestor, parent_of) -> bool:
        for _ in range(32):
            if key == ancestor:
                return True
            key = parent_of.get(key)
            if key is None:
                return False
        return False

    def by_role(self) -> dict[str, list[dict]]:
        roles: dict[str, list[dict]] = {}
        for info in self.procs.values():
            roles.setdefault(info.get("role", "other"), []).append(info)
        return roles


def _mb(kb) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def memory_summary(sampler: TreeSampler | None) -> dict:
    """Peak RSS per role, of the largest worker subtree, of the whole tree, and early vs late."""
    if sampler is None or not sampler.series:
        return {}
    summary = {"sampling_interval_s": sampler.interval, "samples": len(sampler.series),
               "tree_peak_mb": _mb(max(s[1] for s in sampler.series)), "roles": {}}
    for role, infos in sorted(sampler.by_role().items()):
        peaks = [i["peak_kb"] for i in infos]
        summary["roles"][role] = {"processes": len(infos), "peak_rss_mb_max": _mb(max(peaks)),
                                  "peak_rss_mb_median": _mb(statistics.median(peaks))}
    busy = [s for s in sampler.series if s[2] > 0]
    if busy:
        # Bounded: the peak of a worker with everything it started, per fifth of the time workers
        # ran; a leak in a long-lived worker would make it climb from fifth to fifth.
        fifths = [busy[len(busy) * i // 5:max(len(busy) * (i + 1) // 5, len(busy) * i // 5 + 1)] for i in range(5)]
        summary["worker_subtree_peak_mb"] = _mb(max(s[2] for s in busy))
        summary["worker_subtree_peak_mb_by_fifth"] = [_mb(max(s[2] for s in f)) for f in fifths]
        summary["worker_rss_mb_by_fifth"] = [_mb(max(s[3] for s in f)) for f in fifths]
    return summary


def run_timed(cmd: list[str], cwd: Path, log: Path, interval: float | None, root_role: str,
              env: dict | None = None) -> dict:
    """Run cmd to completion: wall and children's CPU seconds, exit status, and the sampler."""
    cpu0, started = children_cpu(), time.perf_counter()
    start_epoch = time.time()
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        sampler = TreeSampler(proc.pid, interval, root_role, start_epoch) if interval else None
        if sampler:
            sampler.start()
        returncode = proc.wait()
    seconds = time.perf_counter() - started
    if sampler:
        sampler.stop()
    return {"seconds": seconds, "cpu_seconds": children_cpu() - cpu0, "returncode": returncode,
            "sampler": sampler, "start_epoch": start_epoch, "end_epoch": time.time(),
            "stderr_tail": log.with_suffix(".err").read_text(errors="replace")[-1500:] if returncode else ""}


def _env(autograder_root: Path | None = None) -> dict:
    """This python's bin first on PATH (nbgrader runs the `alembic` it installs there); with
    autograder_root, that checkout's package first on the import path."""
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if autograder_root is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(autograder_root), os.environ.get("PYTHONPATH")]))
    return env


# ---------------------------------------------------------------------------------------------
# The three methods
# ---------------------------------------------------------------------------------------------

def method_a(course: Path, work: Path, interval: float | None) -> dict:
    """Plain nbgrader in a copy of the course: generate_assignment (untimed), ONE autograde."""
    for name in ("nbgrader_config.py", "assignments", "source"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, course / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy2(src, course / name)
    setup = run_timed([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"],
                      course, work / "a_generate", None, "nbgrader", _env())
    run = run_timed([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"],
                    course, work / "a_autograde", interval, "nbgrader", _env())
    run["setup_seconds"] = setup["seconds"]
    run["scores"] = nbgrader_scores(course / "gradebook.db")
    if setup["returncode"]:
        run["returncode"], run["stderr_tail"] = setup["returncode"], setup["stderr_tail"]
    return run


def nbgrader_scores(db: Path) -> dict[str, tuple[float, float]]:
    """{student: (score, max_score)} from a plain nbgrader gradebook."""
    if not db.is_file():
        return {}
    from nbgrader.api import Gradebook
    scores = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for submission in gb.assignment_submissions(ASSIGNMENT):
            scores[submission.student.id] = (float(submission.score), float(submission.max_score))
    return scores


def method_b(flat: Path, out: Path, work: Path, jobs: int, interval: float | None,
             autograder_root: Path | None, extra: tuple[str, ...] = ()) -> dict:
    """`autograder grade` through its CLI, as an instructor runs it (extra: e.g. --cluster local)."""
    cmd = [sys.executable, "-m", "autograder", "grade", str(flat), "--assignment", ASSIGNMENT,
           "--out", str(out), "--jobs", str(jobs), *extra]
    run = run_timed(cmd, autograder_root or ROOT, work / f"{out.name}_grade", interval, "orchestrator",
                    _env(autograder_root))
    run["scores"] = {}
    try:
        per_student = out / "scores.csv" if (out / "scores.csv").is_file() else out / "grades.csv"  # older kits
        with open(per_student, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                run["scores"][row["student_id"]] = (float(row["score"]), float(row["max_score"]))
        with open(out / "grades_by_exercise.csv", newline="", encoding="utf-8") as f:
            statuses = [row["status"] for row in csv.DictReader(f)]
        run["exercise_statuses"] = {s: statuses.count(s) for s in sorted(set(statuses))}
    except (OSError, KeyError, ValueError) as exc:
        run["csv_error"] = f"{type(exc).__name__}: {exc}"
    return run


FLOOR_CODE = """
import json, sys
import numpy as np
from gc_utils import sigmoid, relu, gradient_check_n_test_case
nb = json.load(open(sys.argv[1], encoding="utf-8"))
run = set(sys.argv[2].split(","))
namespace = {"np": np, "sigmoid": sigmoid, "relu": relu, "gradient_check_n_test_case": gradient_check_n_test_case}
for cell in nb["cells"]:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if cell["cell_type"] == "code" and (meta.get("solution") or meta.get("grade_id") in run):
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        try:
            exec(compile(source, meta.get("grade_id", "cell"), "exec"), namespace)
        except Exception as exc:
            print(type(exc).__name__, exc)
print("PEAK-KB", [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")][0])
"""


def _floor_one(notebook: Path, cwd: Path, timeout: float) -> tuple[float, int, int]:
    """One floor process: (seconds, exit status, peak RSS KiB).

    The peak is the process's own VmHWM, which it prints last: wait4's ru_maxrss would also
    count this (large) parent's resident set, which a child inherits across fork and exec.
    """
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", FLOOR_CODE, str(notebook), ",".join(FLOOR_CALL_CELLS)],
                            cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        output = proc.stdout.read()
        proc.wait()
    finally:
        killer.cancel()
        proc.stdout.close()
    seconds = time.perf_counter() - started
    peaks = [int(line.split()[1]) for line in output.splitlines() if line.startswith("PEAK-KB ")]
    return seconds, proc.returncode, peaks[-1] if peaks else 0


def method_c(notebooks: list[Path], work: Path, jobs: int) -> dict:
    """The floor: a fresh interpreter per notebook, sequentially and `jobs` at a time."""
    cwd = work / "c_floor"
    cwd.mkdir(parents=True, exist_ok=True)
    for helper in (ROOT / "release" / ASSIGNMENT).glob("*.py"):
        shutil.copy2(helper, cwd / helper.name)
    _floor_one(notebooks[0], cwd, 60)  # warm the page cache, as (a) and (b) had theirs warmed
    results = {}
    for label, parallel in (("sequential", 1), ("parallel", jobs)):
        cpu0, started = children_cpu(), time.perf_counter()
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            each = list(pool.map(lambda nb: _floor_one(nb, cwd, 60), notebooks))
        results[label] = {"seconds": time.perf_counter() - started, "cpu_seconds": children_cpu() - cpu0,
                          "jobs": parallel, "failed": sum(1 for _, code, _ in each if code != 0),
                          "process_seconds_median": round(statistics.median(s for s, _, _ in each), 3),
                          "peak_rss_mb_max": _mb(max(kb for _, _, kb in each)),
                          "peak_rss_mb_median": _mb(statistics.median(kb for _, _, kb in each))}
    return results


# ---------------------------------------------------------------------------------------------
# Where the time goes
# ---------------------------------------------------------------------------------------------

def _lifetime(info: dict) -> float:
    return info["last_seen"] - info["created"]


def split_time(run: dict, n: int, jobs: int, out: Path | None) -> dict:
    """Per notebook, design-agnostic: process-seconds of workers (one per student or long-lived)
    split into start-up, kernel, judge, feedback and the rest; CPU seconds by process role; the
    orchestrator's own time before the first and after the last worker."""
    sampler: TreeSampler | None = run.get("sampler")
    if sampler is None:
        return {"note": "no process sampling (--interval 0)"}
    roles = sampler.by_role()
    cpu = {role: round(sum(i["cpu"] for i in infos) / n, 3) for role, infos in sorted(roles.items())}
    cpu["not sampled (short-lived processes, last interval)"] = round(
        max(0.0, run["cpu_seconds"] / n - sum(cpu.values())), 3)
    split = {"cpu_seconds_per_notebook": cpu,
             "processes_per_notebook": {role: round(len(infos) / n, 2) for role, infos in sorted(roles.items())}}
    kernel = sum(_lifetime(k) for k in roles.get("kernel", [])) / n
    workers = roles.get("worker", [])
    if not workers:  # plain nbgrader: one process, a kernel per notebook
        split["seconds_per_notebook"] = {"kernel alive (start, run all cells, shut down)": round(kernel, 3),
                                         "nbgrader, outside the kernel": round(run["seconds"] / n - kernel, 3)}
        return split
    first_child = {}
    for info in sampler.procs.values():
        if info["ppid"] in {w["pid"] for w in workers}:
            first_child[info["ppid"]] = min(first_child.get(info["ppid"], info["created"]), info["created"])
    startup = sum(first_child.get(w["pid"], w["last_seen"]) - w["created"] for w in workers) / n
    judge, feedback = [], []
    students = sorted(p.name for p in (out / "verdicts").iterdir()) if out and (out / "verdicts").is_dir() else []
    for student in students:
        try:
            record = json.loads((out / "verdicts" / student / f"{ASSIGNMENT}.json").read_text(encoding="utf-8"))
            judge.append(float(record["judge_seconds"]))
            autograded = (out / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").stat().st_mtime
            feedback.append((out / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").stat().st_mtime
                            - autograded)
        except (OSError, ValueError, KeyError):
            continue
    worker_seconds = sum(_lifetime(w) for w in workers) / n
    judge_mean = statistics.fmean(judge) if judge else 0.0
    feedback_mean = statistics.fmean(feedback) if feedback else 0.0
    split["seconds_per_notebook"] = {
        "worker process-seconds (all of the below)": round(worker_seconds, 3),
        "worker start to its first child (imports; a long-lived worker's first task up to the judge too)":
            round(startup, 3),
        "kernel alive (start, run all cells, shut down)": round(kernel, 3),
        "judge (judge_seconds of the verdict record; with no kernel, it runs the notebook too)": round(judge_mean, 3),
        "feedback (autograded notebook written to feedback HTML written)": round(feedback_mean, 3),
        "rest of nbgrader autograde (sanitize, gradebook, write) and idle": round(
            worker_seconds - startup - kernel - judge_mean - feedback_mean, 3),
    }
    split["workers"] = len(workers)
    split["verdict_records"] = len(judge)
    spans = [(w["created"], w["last_seen"]) for w in workers]
    before = round(min(start for start, _ in spans) - run["start_epoch"], 2)
    after = round(run["end_epoch"] - max(end for _, end in spans), 2)
    split["orchestrator_before_first_worker_s"], split["orchestrator_after_last_worker_s"] = before, after
    split["wall_model"] = (f"wall ≈ before + worker process-seconds × N / jobs + after = {before} + "
                           f"{worker_seconds:.3f} × {n} / {jobs} + {after} = "
                           f"{before + worker_seconds * n / jobs + after:.1f} s "
                           f"(measured {run['seconds']:.1f} s)")
    return split


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def _git(root: Path, *args: str) -> str | None:
    try:
        run = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    except OSError:
        return None
    return run.stdout.strip() if run.returncode == 0 else None


def machine(autograder_root: Path) -> dict:
    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None
    dirty = _git(autograder_root, "status", "--porcelain", "--", "autograder")
    return {"platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "numpy": version("numpy"), "nbgrader": version("nbgrader"),
            "jupyter_client": version("jupyter_client"), "ipykernel": version("ipykernel"),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "autograder_root": str(autograder_root),
            "git_commit": _git(autograder_root, "rev-parse", "--short", "HEAD"),
            "autograder_uncommitted": dirty.splitlines() if dirty else []}


def method_row(label: str, seconds: float, cpu: float, n: int, jobs: int) -> dict:
    return {"label": label, "jobs": jobs, "seconds": round(seconds, 2),
            "submissions_per_minute": round(60 * n / seconds, 2),
            "seconds_per_notebook": round(seconds / n, 3), "cpu_seconds_per_notebook": round(cpu / n, 3)}


def agreement(made, a_scores, b_scores) -> dict:
    kinds = {s: k for s, k, _ in made}
    correct = [s for s in kinds if kinds[s] in CORRECT]

    def full(scores, s):
        return s in scores and scores[s][1] > 0 and scores[s][0] >= scores[s][1]
    both = [s for s in kinds if s in a_scores and s in b_scores]
    return {"correct_submissions": len(correct),
            "a_full_marks_on_correct": sum(full(a_scores, s) for s in correct),
            "b_full_marks_on_correct": sum(full(b_scores, s) for s in correct),
            "a_full_marks_on_buggy": sum(full(a_scores, s) for s in kinds if s not in correct),
            "b_full_marks_on_buggy": sum(full(b_scores, s) for s in kinds if s not in correct),
            "a_graded": len(a_scores), "b_graded": len(b_scores),
            "same_total_a_b": sum(abs(a_scores[s][0] - b_scores[s][0]) < 1e-9 for s in both)}


def _rows(data: dict):
    floor = data["methods"].get("c")
    return [("a", data["methods"].get("a")), ("b", data["methods"].get("b")), ("d", data["methods"].get("d")),
            ("c", floor), ("c, sequential", (floor or {}).get("sequential"))]


def _vs(data: dict, row: dict) -> tuple[str, str]:
    a, floor = data["methods"].get("a"), data["methods"].get("c")
    return (f"{a['seconds'] / row['seconds']:.2f}" if a else "—",
            f"{row['seconds'] / floor['seconds']:.2f}" if floor else "—")


def render_markdown(data: dict) -> str:
    m, n, jobs, methods = data["machine"], data["n"], data["jobs"], data["methods"]
    state = (f"commit {m['git_commit']}" + (f" with uncommitted changes in {len(m['autograder_uncommitted'])} "
                                            "file(s) of autograder/" if m["autograder_uncommitted"] else ""))
    lines = ["# Grading throughput: plain nbgrader, `autograder grade`, and the floor", "",
             f"Written by `benchmarks/grading.py` on {m['date']}; autograder at {state}.", "",
             f"Machine: {m['platform']}, {m['cpu_count']} CPUs, Python {m['python']}, numpy {m['numpy']}, "
             f"nbgrader {m['nbgrader']}. Load average (1, 5, 15 min) before: {data['loadavg_before']}, after: "
             f"{data['loadavg_after']} — the machine is shared, so every number is noisy; the ratios come "
             "from one run.", "",
             f"N = {n} submissions ({data['class']['correct']} correct, written {len(CORRECT)} ways; "
             f"{data['class']['buggy']} with one planted bug each), jobs = {jobs}.", "",
             "| method | jobs | seconds | submissions/min | s per notebook | CPU s per notebook "
             "| × throughput of (a) | × cost of the floor (c) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, row in _rows(data):
        if row:
            vs_a, vs_c = _vs(data, row)
            lines.append(f"| ({key}) {row['label']} | {row['jobs']} | {row['seconds']:.1f} | "
                         f"{row['submissions_per_minute']:.1f} | {row['seconds_per_notebook']:.3f} | "
                         f"{row['cpu_seconds_per_notebook']:.3f} | {vs_a} | {vs_c} |")
    lines.append("")
    if "a" in methods:
        lines.append(f"(a) is one `nbgrader autograde` over all N, nbgrader's defaults; its "
                     f"`generate_assignment` ({methods['a']['setup_seconds']:.1f} s, once) is not in the time. "
                     "(b) is the whole `autograder grade` command, its own set-up included; (d) is the same "
                     "command on a Dask LocalCluster of `jobs` worker processes (`--cluster local`), its "
                     "cluster's start included.")
    lines += [f"The floor (c) is a fresh `python -c` per notebook that imports numpy, reads the notebook and "
              f"runs its solution cells and {', '.join(FLOOR_CALL_CELLS)} (no kernel, no nbgrader); "
              f"(b) is compared with the floor at the same parallelism (jobs = {jobs}). "
              "CPU seconds are user + system of every descendant (getrusage), and for (b) and (d) of the "
              "judge's children too, which are reaped outside the tree (the judge reads their CPU from "
              "/proc: `child_cpu_seconds` of each verdict record).", ""]
    for target in data["targets"]:
        lines.append(f"- **{'PASS' if target['passed'] else 'FAIL'}** {target['text']}")
    for key in ("a", "b", "d"):
        split = methods.get(key, {}).get("split", {})
        if not split.get("seconds_per_notebook"):
            continue
        lines += ["", f"## Where ({key})'s time goes, per notebook", "", "| part | seconds |", "|---|---:|"]
        lines += [f"| {part} | {value:.3f} |" for part, value in split["seconds_per_notebook"].items()]
        lines += ["", "| CPU by process | CPU s per notebook | processes per notebook |", "|---|---:|---:|"]
        lines += [f"| {role} | {value:.3f} | {split['processes_per_notebook'].get(role, '')} |"
                  for role, value in split["cpu_seconds_per_notebook"].items()]
        if "wall_model" in split:
            lines += ["", f"Before the first worker starts (imports, generate_assignment, intake): "
                      f"{split['orchestrator_before_first_worker_s']} s; after the last one ends (CSVs): "
                      f"{split['orchestrator_after_last_worker_s']} s. {split['wall_model']}."]
    lines += ["", "Process roles are recognised by their arguments: worker = `-m autograder.pipeline.workers.worker`; "
              "sandbox = whatever a worker starts other than a kernel (the judge's child, a warm zygote and its "
              f"forks); lifetimes and CPU are sampled every {data['interval']} s, so a process shorter than that "
              "may be missed (its CPU then shows as not sampled).",
              "", "## Peak resident memory", "",
              "| run | process | processes | peak RSS MiB, max | median |", "|---|---|---:|---:|---:|"]
    for key in ("a", "b", "d"):
        for role, r in methods.get(key, {}).get("memory", {}).get("roles", {}).items():
            lines.append(f"| ({key}) | {role} | {r['processes']} | {r['peak_rss_mb_max']} | "
                         f"{r['peak_rss_mb_median']} |")
    if "c" in methods:
        floor = methods["c"]
        lines.append(f"| (c) | floor python | {n} | {floor['peak_rss_mb_max']} | {floor['peak_rss_mb_median']} |")
    memory = methods.get("b", {}).get("memory", {})
    if memory.get("worker_subtree_peak_mb") is not None:
        lines += ["", f"(b) a worker with everything it started, at the same moment: peak "
                  f"{memory['worker_subtree_peak_mb']} MiB; its peak in each fifth of the time workers ran: "
                  f"{', '.join(map(str, memory['worker_subtree_peak_mb_by_fifth']))} MiB (the worker process alone: "
                  f"{', '.join(map(str, memory['worker_rss_mb_by_fifth']))} MiB). The whole (b) tree at once "
                  "(resident sets summed, so pages a forked child shares with its warm parent count twice): "
                  f"{memory['tree_peak_mb']} MiB" + (f"; (a): {methods['a']['memory']['tree_peak_mb']} MiB. "
                                                      if methods.get("a", {}).get("memory") else ". ") +
                  f"Untrusted code (kernel, judge child) is limited to {data['memory_limit_mb']} MiB of address space "
                  "by the manifest; the worker and the orchestrator are not limited. Peaks are VmHWM, read while "
                  "each process lives."]
    ag = data.get("agreement")
    if ag:
        lines += ["", "## Grades (a sanity check, not a timing)", "",
                  f"Full marks on the {ag['correct_submissions']} correct submissions: "
                  f"(a) {ag['a_full_marks_on_correct']}, (b) {ag['b_full_marks_on_correct']}; "
                  f"on buggy ones (should be 0): (a) {ag['a_full_marks_on_buggy']}, "
                  f"(b) {ag['b_full_marks_on_buggy']}. Same total in (a) and (b): {ag['same_total_a_b']} of "
                  f"{min(ag['a_graded'], ag['b_graded'])} (plain nbgrader runs each visible test with the student's "
                  "own helpers, so one bug can cost it two exercises there)."]
    return "\n".join(lines) + "\n"


def print_table(data: dict) -> None:
    print(f"\n{'method':46} {'jobs':>4} {'seconds':>8} {'subs/min':>9} {'s/nb':>7} {'cpu s/nb':>8} "
          f"{'×(a)':>6} {'×floor':>7}")
    for key, row in _rows(data):
        if row:
            vs_a, vs_c = _vs(data, row)
            name = f"({key}) {row['label']}"
            print(f"{name[:46]:46} {row['jobs']:>4} {row['seconds']:8.1f} {row['submissions_per_minute']:9.1f} "
                  f"{row['seconds_per_notebook']:7.3f} {row['cpu_seconds_per_notebook']:8.3f} {vs_a:>6} {vs_c:>7}")
    for target in data["targets"]:
        print(f"{'PASS' if target['passed'] else 'FAIL'}: {target['text']}")


def memory_limit_mb() -> int | None:
    import tomllib
    try:
        return tomllib.loads((ROOT / "assignments" / ASSIGNMENT / "manifest.toml").read_text())["limits"]["memory_mb"]
    except (OSError, KeyError, ValueError):
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default=None,
                        help="submissions to grade, or a comma-separated list of class sizes measured one after "
                             "the other in this run, e.g. 41,100 [default: 100; 10 with --quick]")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="parallel jobs of (b) and of the parallel floor [default: cores]")
    parser.add_argument("--out", type=Path, default=None, help="working folder [default: a temp folder, removed after]")
    parser.add_argument("--keep", action="store_true", help="keep the temp working folder")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: N = 10, results in the working folder (kept)")
    parser.add_argument("--results", type=Path, default=None,
                        help="where grading.md/.json go [default: benchmarks/results; the working folder with --quick]")
    parser.add_argument("--only", default="a,b,c,d",
                        help="comma-separated subset of the methods a, b, c, d [default: all]")
    parser.add_argument("--autograder", type=Path, default=None,
                        help="a checkout of this repository whose autograder (b) runs, to compare versions "
                             "[default: this one]")
    parser.add_argument("--interval", type=float, default=0.1,
                        help="process sampling interval in seconds (memory, time split); 0 turns it off")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the class's mix")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in str(args.n).split(",")] if args.n else [10 if args.quick else 100]
    jobs = max(1, args.jobs)
    only = {m.strip() for m in args.only.split(",") if m.strip()}
    if not only or not only <= {"a", "b", "c", "d"} or min(sizes) < 1:
        parser.error("--only takes a, b, c and/or d; --n must be ≥ 1 (or a comma-separated list)")
    autograder_root = args.autograder.resolve() if args.autograder else None
    if autograder_root and not (autograder_root / "autograder" / "cli.py").is_file():
        parser.error(f"--autograder {autograder_root}: no autograder/cli.py there")
    interval = args.interval if args.interval > 0 else None
    if interval:
        try:
            import psutil  # noqa: F401  (a jupyter dependency)
        except ImportError:
            print("psutil is not installed: no memory sampling or time split", file=sys.stderr)
            interval = None
    temp = args.out is None
    base = Path(tempfile.mkdtemp(prefix="grading-bench-")) if temp else args.out.resolve()
    if not temp and base.exists() and any(base.iterdir()):
        parser.error(f"--out {base} is not empty")
    base.mkdir(parents=True, exist_ok=True)
    results_dir = args.results or (base if args.quick else RESULTS)
    keep = args.keep or results_dir == base
    runs = []
    for n in sizes:
        work = base / f"n{n}" if len(sizes) > 1 else base
        work.mkdir(parents=True, exist_ok=True)
        runs.append(measure(n, jobs, only, work, interval, autograder_root, args.seed))
    results_dir.mkdir(parents=True, exist_ok=True)
    data = runs[0] if len(runs) == 1 else {"runs": runs}
    (results_dir / "grading.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    (results_dir / "grading.md").write_text("\n".join(render_markdown(r) for r in runs), encoding="utf-8")
    print(f"\nwrote {results_dir / 'grading.md'} and grading.json")
    failed = sorted({m for r in runs for m in r["failed_methods"]})
    if failed:
        print(f"could not run cleanly: {', '.join(failed)} (see 'error' in grading.json)", file=sys.stderr)
    if temp and not keep:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


def measure(n: int, jobs: int, only: set[str], work: Path, interval: float | None,
            autograder_root: Path | None, seed: int) -> dict:
    """Every method of `only` on one class of n submissions; the run's data (see render_markdown)."""
    print(f"grading benchmark: N = {n}, jobs = {jobs}, working folder {work}", flush=True)
    data = {"n": n, "jobs": jobs, "seed": seed, "interval": interval,
            "machine": machine(autograder_root or ROOT), "loadavg_before": [round(x, 2) for x in os.getloadavg()],
            "memory_limit_mb": memory_limit_mb(), "methods": {}, "targets": []}
    made = make_class(n, seed)
    flat, course = work / "submissions", work / "a_course"
    write_class(made, flat, course)
    kinds: dict[str, int] = {}
    for _, kind, _ in made:
        kinds[kind] = kinds.get(kind, 0) + 1
    n_correct = sum(v for k, v in kinds.items() if k in CORRECT)
    data["class"] = {"correct": n_correct, "buggy": n - n_correct, "kinds": kinds}
    failed, scores = [], {}

    if "a" in only:
        print(f"(a) plain nbgrader autograde of {n} notebooks, sequential ...", flush=True)
        a = method_a(course, work, interval)
        row = method_row("plain nbgrader autograde", a["seconds"], a["cpu_seconds"], n, 1)
        row.update(setup_seconds=round(a["setup_seconds"], 2), returncode=a["returncode"],
                   memory=memory_summary(a["sampler"]), split=split_time(a, n, 1, None))
        scores["a"] = a["scores"]
        if a["returncode"] or len(a["scores"]) != n:
            row["error"] = a["stderr_tail"] or f"the gradebook has {len(a['scores'])} of {n} students"
            failed.append("a")
        data["methods"]["a"] = row
        print(f"    {a['seconds']:.1f} s", flush=True)
    if "b" in only:
        print(f"(b) autograder grade --jobs {jobs} ...", flush=True)
        out_b = work / "b_out"
        b = method_b(flat, out_b, work, jobs, interval, autograder_root)
        b["cpu_seconds"] += judged_children_cpu(out_b)
        row = method_row(f"autograder grade --jobs {jobs}", b["seconds"], b["cpu_seconds"], n, jobs)
        row.update(returncode=b["returncode"], memory=memory_summary(b["sampler"]),
                   split=split_time(b, n, jobs, out_b), exercise_statuses=b.get("exercise_statuses"))
        scores["b"] = b["scores"]
        if b["returncode"] or b.get("csv_error") or len(b["scores"]) != n:
            row["error"] = (b.get("csv_error") or b["stderr_tail"]
                            or f"scores.csv has {len(b['scores'])} of {n} students")
            failed.append("b")
        data["methods"]["b"] = row
        print(f"    {b['seconds']:.1f} s", flush=True)
    if "d" in only:
        print(f"(d) autograder grade --cluster local --jobs {jobs} ...", flush=True)
        out_d = work / "d_out"
        d = method_b(flat, out_d, work, jobs, interval, autograder_root, ("--cluster", "local"))
        d["cpu_seconds"] += judged_children_cpu(out_d)
        row = method_row(f"autograder grade --cluster local --jobs {jobs}", d["seconds"], d["cpu_seconds"], n, jobs)
        row.update(returncode=d["returncode"], memory=memory_summary(d["sampler"]),
                   split=split_time(d, n, jobs, out_d), exercise_statuses=d.get("exercise_statuses"))
        if d["returncode"] or d.get("csv_error") or len(d["scores"]) != n:
            row["error"] = (d.get("csv_error") or d["stderr_tail"]
                            or f"scores.csv has {len(d['scores'])} of {n} students")
            failed.append("d")
        elif "b" in only:
            row["same_csvs_as_b"] = all((out_d / f).read_bytes() == (work / "b_out" / f).read_bytes()
                                        for f in ("scores.csv", "grades_by_exercise.csv"))
        data["methods"]["d"] = row
        print(f"    {d['seconds']:.1f} s", flush=True)
    if "c" in only:
        print(f"(c) floor: a fresh python per notebook, sequential and {jobs} at a time ...", flush=True)
        c = method_c(sorted(flat.glob("*.ipynb")), work, jobs)
        row = method_row(f"floor: python + numpy + solution code", c["parallel"]["seconds"],
                         c["parallel"]["cpu_seconds"], n, jobs)
        row.update({k: c["parallel"][k] for k in ("failed", "process_seconds_median", "peak_rss_mb_max",
                                                  "peak_rss_mb_median")})
        seq = method_row("floor, sequential", c["sequential"]["seconds"], c["sequential"]["cpu_seconds"], n, 1)
        seq.update({k: c["sequential"][k] for k in ("failed", "process_seconds_median")})
        row["sequential"] = seq
        if c["parallel"]["failed"] or c["sequential"]["failed"]:
            failed.append("c")
        data["methods"]["c"] = row

    ms = data["methods"]
    data["ratios"] = {}
    if "a" in ms and "b" in ms:
        speedup = ms["a"]["seconds"] / ms["b"]["seconds"]
        data["ratios"]["b_over_a_throughput"] = round(speedup, 3)
        data["targets"].append({"name": "throughput", "value": round(speedup, 3), "passed": speedup >= TARGET_SPEEDUP,
                                "text": f"(b) throughput is {speedup:.2f}× plain nbgrader's "
                                        f"(target ≥ {TARGET_SPEEDUP:g}×)"})
    if "b" in ms and "c" in ms:
        cost = ms["b"]["seconds"] / ms["c"]["seconds"]
        data["ratios"]["b_over_c_cost"] = round(cost, 3)
        data["ratios"]["b_over_c_sequential_cost"] = round(ms["b"]["seconds"] / ms["c"]["sequential"]["seconds"], 3)
        data["targets"].append({"name": "floor", "value": round(cost, 3), "passed": cost <= TARGET_FLOOR_RATIO,
                                "text": f"(b) costs {cost:.2f}× the floor per notebook, both at {jobs} jobs "
                                        f"(target ≤ {TARGET_FLOOR_RATIO:g}×)"})
    if "a" in scores and "b" in scores:
        data["agreement"] = agreement(made, scores["a"], scores["b"])
    data["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    data["failed_methods"] = failed

    print_table(data)
    return data


if __name__ == "__main__":
    sys.exit(main())
