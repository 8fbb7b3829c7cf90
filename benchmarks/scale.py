"""Scale curve: `autograder grade --cluster local` on synthetic classes of growing size.

    .venv/bin/python benchmarks/scale.py                     # N = 100, 1000, 5000; --jobs = cores
    .venv/bin/python benchmarks/scale.py --n 100,1000 --jobs 2
    .venv/bin/python benchmarks/scale.py --quick             # N = 6, results in the working folder

For each N it writes a class like benchmarks/grading.py's (seeded; 40 % correct written three
ways, the rest with one planted bug each; every notebook unique), runs the CLI on a Dask
LocalCluster of --jobs worker processes, and records, from one run each: seconds per notebook,
peak resident memory of the process running `grade`, of each Dask worker process and of the
grading worker under it (VmHWM, sampled every --interval s; also per fifth of the run, so growth
shows), the CPU the `grade` process spends per notebook (it is the gradebook's one writer), the
gradebook's size, and the load average before and after (the machine is shared). Both memory
figures must stay flat as N grows: nothing is held per student beyond its row. Results go to
RESULTS/scale.md and RESULTS/scale.json (one entry per N; a later run adds or replaces its N).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
ASSIGNMENT = "gradient_checking"
#: The course the README sizes workers for: this many students graded within this many seconds.
TARGET_STUDENTS, TARGET_SECONDS = 10_000, 600


def _grading_module():
    spec = importlib.util.spec_from_file_location("grading_benchmark", HERE / "grading.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _grading_module()


def write_class(n: int, folder: Path, seed: int = bench.SEED) -> dict[str, int]:
    """n unique submissions as <student>.ipynb, written one at a time (a class of 5,000 is never
    in memory at once); {kind: count}."""
    release = nbformat.read(ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    solved = bench.solved_release()
    n_correct = round(bench.CORRECT_SHARE * n)
    correct, bugs = list(bench.CORRECT), list(bench.BUGS)
    kinds = [correct[i % len(correct)] for i in range(n_correct)] + [bugs[i % len(bugs)] for i in range(n - n_correct)]
    random.Random(seed).shuffle(kinds)
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for i, kind in enumerate(kinds, 1):
        student = f"s{i:05d}"
        nb = bench._edited(solved, release, bench.CORRECT[kind] if kind in bench.CORRECT else [bench.BUGS[kind]])
        first = bench._cells_by_id(nb)["forward_propagation"]
        first.source = f"# {student}\n" + first.source
        nbformat.write(nb, folder / f"{student}.ipynb")
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _fifths(values: list[float]) -> list[float]:
    return [max(values[len(values) * i // 5:max(len(values) * (i + 1) // 5, len(values) * i // 5 + 1)])
            for i in range(5)] if values else []


def measure(n: int, jobs: int, work: Path, interval: float, extra: list[str]) -> dict:
    """One class of n graded on the local cluster; the figures of one scale point."""
    flat, out = work / "submissions", work / "out"
    kinds = write_class(n, flat)
    load_before = [round(x, 2) for x in os.getloadavg()]
    cmd = [sys.executable, "-m", "autograder", "grade", str(flat), "--assignment", ASSIGNMENT, "--out", str(out),
           "--jobs", str(jobs), "--cluster", "local", *extra]
    run = bench.run_timed(cmd, ROOT, work / "grade", interval, "orchestrator", bench._env())
    sampler = run["sampler"]
    roles = sampler.by_role() if sampler else {}
    memory = bench.memory_summary(sampler)
    with open(out / "scores.csv", encoding="utf-8") as f:
        graded = sum(1 for _ in f) - 1
    gradebook = sum(p.stat().st_size for p in out.glob("gradebook.db*"))
    grade_cpu = sum(i["cpu"] for i in roles.get("orchestrator", []))
    point = {
        "n": n, "jobs": jobs, "graded": graded, "returncode": run["returncode"], "kinds": kinds,
        "seconds": round(run["seconds"], 1), "seconds_per_notebook": round(run["seconds"] / n, 4),
        "worker_seconds_per_notebook": round(run["seconds"] * jobs / n, 4),
        "cpu_seconds_per_notebook": round(run["cpu_seconds"] / n, 4),
        "grade_process_cpu_seconds_per_notebook": round(grade_cpu / n, 4),
        "peak_rss_mb": {role: r["peak_rss_mb_max"] for role, r in memory.get("roles", {}).items()},
        "worker_rss_mb_by_fifth": memory.get("worker_rss_mb_by_fifth"),
        "worker_subtree_peak_mb_by_fifth": memory.get("worker_subtree_peak_mb_by_fifth"),
        "gradebook_mb": round(gradebook / 2**20, 2), "gradebook_kb_per_student": round(gradebook / 1024 / n, 2),
        "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "stderr_tail": run["stderr_tail"],
    }
    if sampler:  # the grade process's resident set over the run, per fifth: growth shows here
        point["grade_rss_mb_by_fifth"] = [round(v / 1024, 1) for v in _fifths(sampler.root_rss)] or None
    return point


def workers_for(point: dict) -> dict:
    """Workers (one core each) a course of TARGET_STUDENTS needs to finish within TARGET_SECONDS,
    from a point's worker-seconds per notebook; the grade process must keep up as the one writer."""
    per_worker = point["worker_seconds_per_notebook"]
    budget = TARGET_SECONDS - 60  # a minute for set-up, the cluster's start and the CSVs
    return {"workers": math.ceil(TARGET_STUDENTS * per_worker / budget),
            "grade_process_cpu_share": round(TARGET_STUDENTS * point["grade_process_cpu_seconds_per_notebook"]
                                             / budget, 2)}


def render(points: list[dict], machine: dict) -> str:
    lines = ["# Scale curve: `autograder grade --cluster local`", "",
             f"Written by `benchmarks/scale.py`; {machine['platform']}, {machine['cpu_count']} CPUs, "
             f"Python {machine['python']}, nbgrader {machine['nbgrader']}, autograder at commit "
             f"{machine['git_commit']}. The machine is shared: the load average is recorded with each point.", "",
             "| N | jobs | seconds | s per notebook | worker-s per notebook | grade process CPU s per notebook "
             "| peak RSS MiB: grade process | Dask worker | grading worker | gradebook MiB (KiB per student) "
             "| load avg before → after | date |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for p in sorted(points, key=lambda p: p["n"]):
        rss = p["peak_rss_mb"]
        lines.append(f"| {p['n']} | {p['jobs']} | {p['seconds']:.1f} | {p['seconds_per_notebook']:.3f} | "
                     f"{p['worker_seconds_per_notebook']:.3f} | {p['grade_process_cpu_seconds_per_notebook']:.3f} | "
                     f"{rss.get('orchestrator', '—')} | {rss.get('dask worker', '—')} | {rss.get('worker', '—')} | "
                     f"{p['gradebook_mb']} ({p['gradebook_kb_per_student']}) | "
                     f"{p['loadavg_before'][0]} → {p['loadavg_after'][0]} | {p['date'][:16]} |")
    lines += ["", "Per fifth of each run (peak resident MiB; flat = nothing held per student):", ""]
    for p in sorted(points, key=lambda p: p["n"]):
        lines.append(f"- N = {p['n']}: grade process {p.get('grade_rss_mb_by_fifth')}; grading worker "
                     f"{p.get('worker_rss_mb_by_fifth')}; grading worker with its judge children "
                     f"{p.get('worker_subtree_peak_mb_by_fifth')}")
    largest = max(points, key=lambda p: p["n"])
    need = workers_for(largest)
    lines += ["", f"A course of {TARGET_STUDENTS:,} within {TARGET_SECONDS // 60} minutes, from N = {largest['n']} "
              f"({largest['worker_seconds_per_notebook']:.3f} worker-seconds per notebook on this machine, "
              f"{TARGET_SECONDS - 60} s left after a minute of set-up): about **{need['workers']} workers** of one "
              f"core each; the grade process would then be {need['grade_process_cpu_share']:.0%} busy writing "
              "the gradebook and files (one core)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", default=None, help="comma-separated class sizes [default: 100,1000,5000]")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="Dask worker processes")
    parser.add_argument("--interval", type=float, default=0.5, help="memory sampling interval, s")
    parser.add_argument("--out", type=Path, default=None, help="working folder [default: a temp folder, removed]")
    parser.add_argument("--results", type=Path, default=None, help="where scale.md/.json go")
    parser.add_argument("--quick", action="store_true", help="N = 6, results in the working folder")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in (args.n or ("6" if args.quick else "100,1000,5000")).split(",")]
    base = Path(tempfile.mkdtemp(prefix="scale-bench-")) if args.out is None else args.out.resolve()
    results = args.results or (base if args.quick else RESULTS)
    results.mkdir(parents=True, exist_ok=True)
    store = results / "scale.json"
    saved = json.loads(store.read_text()) if store.is_file() else {"points": []}
    machine = bench.machine(ROOT)
    failed = False
    for n in sizes:
        print(f"N = {n}, jobs = {args.jobs}, load average {os.getloadavg()[0]:.2f} ...", flush=True)
        point = measure(n, args.jobs, base / f"n{n}", args.interval, [])
        print(f"    {point['seconds']} s, {point['seconds_per_notebook']} s per notebook, "
              f"peak RSS {point['peak_rss_mb']}", flush=True)
        failed |= point["returncode"] != 0 or point["graded"] != n
        saved["points"] = [p for p in saved["points"] if p["n"] != n] + [point]
        saved["machine"] = machine
        store.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
        (results / "scale.md").write_text(render(saved["points"], machine), encoding="utf-8")
        shutil.rmtree(base / f"n{n}" / "submissions", ignore_errors=True)
    print(f"wrote {results / 'scale.md'}")
    if args.out is None and not args.quick:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
