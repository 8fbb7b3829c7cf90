"""Grading on Dask: a LocalCluster, a scheduler and workers started as separate processes (the way
a SLURM or Kubernetes course runs them, see the README), and a worker killed mid-batch. Every run
must give byte-identical CSVs to the local pool's and grade each student exactly once."""
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.course.manifest import load as load_manifest
from autograder.judge.sandbox import Limits
from autograder.pipeline import resume
from autograder.pipeline.config import COURSE_ID
from autograder.pipeline.dask_executor import ClusterError, parse_cluster
from autograder.pipeline.grade import grade

from conftest import ROOT

SAMPLES = ROOT / "samples" / "gradient_checking"
LIMITS = Limits(wall_seconds=20, memory_mb=1024)
DASK = str(Path(sys.executable).parent / "dask")  # the `dask` command of this environment


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """The samples that finish quickly (not_json is an intake error), plus copies under new ids,
    so there are more submissions than workers."""
    folder = tmp_path_factory.mktemp("class")
    for sample in SAMPLES.glob("*.ipynb"):
        if sample.stem != "never_finishes":
            shutil.copy(sample, folder / sample.name)
    for copy, sample in [("carol", "perfect"), ("dave", "bug_backprop_dW2"), ("erin", "perfect"),
                         ("frank", "bug_flatten_order")]:
        shutil.copy(SAMPLES / f"{sample}.ipynb", folder / f"{copy}.ipynb")
    return folder


@pytest.fixture(scope="module")
def pool_run(klass, tmp_path_factory):
    return grade(klass, "gradient_checking", tmp_path_factory.mktemp("pool"), jobs=2, limits=LIMITS, progress=False)


def readme_slurm_commands(scheduler_file: Path, local_directory: Path) -> dict[str, list[str]]:
    """{"scheduler": argv, "worker": argv}: the `dask` lines of the README's SLURM script, with its
    variables set (srun and the trailing & are the batch system's part, not Dask's)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    script = readme.split("# slurm-workers.sh", 1)[1].split("```", 1)[0]
    commands = {}
    for line in script.splitlines():
        line = line.replace("$SCHEDULER_FILE", str(scheduler_file)).replace("$TMPDIR", str(local_directory))
        words = shlex.split(line.rstrip("& "))
        if "dask" in words:
            words = words[words.index("dask"):]
            commands[words[1]] = [DASK, *words[1:]]
    assert set(commands) == {"scheduler", "worker"}, script
    return commands


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """`dask scheduler` and two `dask worker`s on 127.0.0.1, each a process of its own with its
    own local directory, started with the README's SLURM script's own command lines."""
    folder = tmp_path_factory.mktemp("dask")
    info = folder / "scheduler.json"
    command = readme_slurm_commands(info, folder)["scheduler"] + ["--host", "127.0.0.1", "--port", "0"]
    procs = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    workers = []
    try:
        deadline = time.monotonic() + 120
        while not info.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        for slot in range(2):
            proc, local = start_worker(folder, info, f"worker-{slot}")
            procs.append(proc)
            workers.append(local)
        from distributed import Client
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield {"address": address, "info": info, "folder": folder}
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # the run is over: nothing to shut down gracefully
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def start_worker(folder: Path, info: Path, name: str):
    local = folder / name
    local.mkdir()
    command = readme_slurm_commands(info, local)["worker"] + ["--name", name]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return proc, local


def gradebook_submissions(out: Path) -> list[str]:
    """Student ids of the gradebook's submissions, with repeats if any were recorded twice."""
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", COURSE_ID) as gb:
        return sorted(s.student.id for s in gb.find_assignment("gradient_checking").submissions)


def gradebook_scores(out: Path) -> dict:
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", COURSE_ID) as gb:
        return {(s.student.id, g.name): (g.auto_score, g.needs_manual_grade)
                for s in gb.find_assignment("gradient_checking").submissions
                for nb in s.notebooks for g in nb.grades}


def kept_on_a_rerun(run, klass) -> list[str]:
    """The students whose verdict a rerun of `run` keeps, as resume.previous_verdict decides."""
    key = resume.resume_key(ROOT, "gradient_checking", load_manifest("gradient_checking", ROOT).path, LIMITS,
                            "sandbox")
    return sorted(s for s in run.outcomes if resume.previous_verdict(
        run.out, "gradient_checking", "gradient_checking", s,
        hashlib.sha256((klass / f"{s}.ipynb").read_bytes()).hexdigest(), key))


def assert_same_as_pool(run, pool_run):
    for name in ("scores.csv", "grades_by_exercise.csv"):
        assert (run.out / name).read_bytes() == (pool_run.out / name).read_bytes(), name
    assert gradebook_submissions(run.out) == gradebook_submissions(pool_run.out)
    assert gradebook_scores(run.out) == gradebook_scores(pool_run.out)
    for student, outcome in pool_run.outcomes.items():
        if outcome.ok:
            assert (run.out / "feedback" / student / "gradient_checking" / "gradient_checking.html").is_file()
            record = json.loads((run.out / "verdicts" / student / "gradient_checking.json").read_text())
            assert record["complete"] is True


def test_cluster_addresses_are_checked():
    assert parse_cluster("local") == "local"
    assert parse_cluster("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    for bad in ("", "tcp://", "10.0.0.5:8786", "slurm"):
        with pytest.raises(ClusterError):
            parse_cluster(bad)


def test_a_local_cluster_of_two_workers_grades_like_the_pool(klass, pool_run, tmp_path):
    run = grade(klass, "gradient_checking", tmp_path / "out", jobs=2, limits=LIMITS, progress=False, cluster="local")
    assert_same_as_pool(run, pool_run)
    graded = [o.stats for o in run.outcomes.values() if o.ok]
    workers = {stats["worker"]: stats["scratch"] for stats in graded}
    assert len(workers) == 2, "both worker processes should have graded"
    scratch = [Path(s) for s in workers.values()]
    assert len(set(scratch)) == 2 and not any(s.is_relative_to(tmp_path) for s in scratch)
    assert not any(s.exists() for s in scratch), "a worker's scratch course outlives the run"


def test_a_scheduler_and_workers_started_as_processes_grade_like_the_pool(klass, pool_run, scheduler, tmp_path):
    run = grade(klass, "gradient_checking", tmp_path / "out", jobs=2, limits=LIMITS, progress=False,
                cluster=scheduler["address"])
    assert_same_as_pool(run, pool_run)
    scratch = {Path(o.stats["scratch"]) for o in run.outcomes.values() if o.ok}
    homes = [scheduler["folder"] / f"worker-{slot}" for slot in range(2)]
    assert all(any(s.is_relative_to(home) for home in homes) for s in scratch), scratch
    # The same resume behaviour as the pool's: what a rerun keeps is what it keeps after the pool.
    kept = kept_on_a_rerun(pool_run, klass)
    assert kept and kept_on_a_rerun(run, klass) == kept, "the cluster's verdicts lack the run's resume key"
    again = grade(klass, "gradient_checking", tmp_path / "out", jobs=2, limits=LIMITS, progress=False,
                  cluster=scheduler["address"])
    assert sorted(again.kept) == kept
    assert (again.out / "grades_by_exercise.csv").read_bytes() == (pool_run.out / "grades_by_exercise.csv").read_bytes()


def test_a_worker_killed_mid_batch_loses_nothing(klass, pool_run, scheduler, tmp_path):
    from distributed import Client
    victim, local = start_worker(scheduler["folder"], scheduler["info"], "victim")
    seen = {}
    try:
        with Client(scheduler["address"], timeout="60s") as client:
            client.wait_for_workers(3, timeout=120)

        def kill_when_busy():
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and victim.poll() is None:
                busy = [p.name for p in local.glob("**/autograder-*/submitted/*")]
                if busy:
                    seen["student"] = busy[0]
                    os.killpg(victim.pid, signal.SIGKILL)  # the nanny and the worker it started
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_when_busy)
        killer.start()
        run = grade(klass, "gradient_checking", tmp_path / "out", jobs=2, limits=LIMITS, progress=False,
                    cluster=scheduler["address"])
        killer.join()
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
    assert seen, "the victim worker never got a submission"
    assert run.outcomes[seen["student"]].ok
    assert not run.outcomes[seen["student"]].stats["scratch"].startswith(str(local))
    assert_same_as_pool(run, pool_run)


class _Stuck:
    """A grading worker that never answers within the budget it is given (it records it)."""

    def __init__(self):
        self.budgets = []

    def ask(self, task, budget):
        self.budgets.append(budget)
        raise TimeoutError

    def stop(self, kill=False):
        pass


def test_both_executors_give_a_submission_the_same_time_budget(tmp_path):
    """A notebook the local pool lets finish must not time out on a cluster: the pool and the Dask
    worker both take their budget from pool.budget_for."""
    from autograder.pipeline import dask_worker, pool
    limits = Limits(wall_seconds=20, memory_mb=1024)
    stuck = _Stuck()
    (tmp_path / "logs").mkdir()
    on_pool = pool.grade_all(tmp_path, "gradient_checking", "sqlite://", limits,
                             [{"student": "s", "sha256": "", "resume_key": "k"}], 1, prestarted=[stuck])["s"]
    on_dask = dask_worker.outcome_of("s", {"answer": {"ok": False, "stage": "timeout"}, "seconds": 0.0}, limits)
    assert on_pool.status == on_dask.status == "timeout"
    assert on_pool.message == on_dask.message, "the Dask worker restates another budget than the pool's"
    assert stuck.budgets == [pool.budget_for(limits)]
    assert f"within {pool.budget_for(limits):.0f} s" in on_dask.message
