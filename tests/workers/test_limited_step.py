"""A worker's steps in a forked, capped helper: each answer, failure or overrun is the step's own,
never the worker's, and never the next step's."""
import os
import signal
import time

import pytest

from autograder.pipeline.workers.limited_helper import LimitedHelper
from autograder.pipeline.workers.pool import WORKER_NAME

from support import ROOT

STEPS = {
    "fine": lambda: "",
    "complains": lambda: "the page could not be written",
    "sleeps": lambda: time.sleep(30),
    "killed": lambda: os.kill(os.getpid(), signal.SIGKILL),
    "greedy": lambda: len(bytearray(512 * 1024 * 1024)) and "",
    "long answer": lambda: "x" * 100_000,
    "pid": lambda: str(os.getpid()),
}


def _raise():
    raise ValueError("no such template")


STEPS["raises"] = _raise


@pytest.fixture
def helper():
    made = LimitedHelper(lambda name: STEPS[name](), extra_mb=64, seconds=2.0)
    yield made
    made.close()


def test_a_step_that_succeeds_answers_nothing_and_the_helper_stays(helper):
    assert helper.run("fine") == ""
    first = helper.pid
    assert helper.run("fine") == "" and helper.pid == first != os.getpid()


def test_a_steps_own_complaint_and_its_exception_come_back(helper):
    assert helper.run("complains") == "the page could not be written"
    assert helper.run("raises") == "ValueError: no such template"


def test_a_step_that_overruns_is_killed_at_its_time(helper):
    assert helper.run("sleeps") == "it took longer than 2 s"
    assert helper.pid is None and helper.run("fine") == ""


def test_a_step_killed_by_a_signal_is_reported_as_such(helper):
    assert helper.run("killed") == "it was ended by signal 9"


def test_a_step_that_exhausts_its_memory_cap_fails_alone(helper):
    assert helper.run("greedy").startswith("MemoryError")
    assert helper.run("fine") == ""  # a fresh helper; the worker is untouched


def test_a_long_answer_is_cut_not_blocking(helper):
    assert helper.run("long answer") == "x" * 4000


def test_after_any_failure_the_next_step_runs_in_a_fresh_helper(helper):
    helper.run("fine")
    used = helper.pid
    helper.run("complains")
    assert helper.run("pid") != str(used)  # its answer is the pid it ran in: a new one...
    assert helper.pid is None  # ...and a non-empty answer ends the helper too


def test_a_failure_after_other_steps_is_tried_again_in_a_fresh_helper():
    """What one step did to the helper must not cost the next: a step that fails only in a helper
    that has served before (here: the second step in the same process) gets a clean second try."""
    served = []

    def step(_):
        served.append(os.getpid())
        return "" if len(served) == 1 else ("spoilt by the step before" if os.getpid() == served[0] else "")
    made = LimitedHelper(step, extra_mb=64, seconds=5.0)
    try:
        assert made.run("first") == ""
        assert made.run("second") == ""  # failed in the used helper, passed in a fresh one
    finally:
        made.close()
def test_a_worker_leaves_at_once_and_takes_its_warm_interpreter_with_it(tmp_path):
    """A serving worker whose tasks are done exits without tearing down its interpreter, and
    stops its warm zygote and removes the zygote's folder first."""
    import subprocess
    import sys
    from pathlib import Path

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    course = tmp_path / "course"
    course.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    from autograder.pipeline.workers.messages import WorkerSettings
    done = subprocess.run([sys.executable, "-m", "autograder.pipeline.workers.worker", "--serve",
                           "--settings", WorkerSettings(course, "gradient_checking", f"sqlite:///{tmp_path / 'g.db'}").to_json()],
                          input="", capture_output=True, text=True, env=env, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not list(tmp.glob("gradcheck-zygote-*")), "the warm interpreter's folder is left behind"
    for proc in Path("/proc").iterdir():
        try:
            assert not os.readlink(proc / "cwd").startswith(str(tmp)), f"process {proc.name} is still running"
        except (OSError, ValueError):
            continue


def test_a_killed_worker_leaves_no_warm_interpreter_folder(tmp_path):
    """SIGKILL gives a worker no chance to clean up: its zygote sees the control socket close,
    removes its own folder and exits; killed before its zygote started, the next launcher to start
    removes the folder, which is named for the dead worker."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    course = tmp_path / "course"
    course.mkdir()
    from autograder.pipeline.workers.messages import WorkerSettings
    worker = subprocess.Popen([sys.executable, "-m", "autograder.pipeline.workers.worker", "--serve",
                               "--settings", WorkerSettings(course, "gradient_checking", f"sqlite:///{tmp_path / 'g.db'}").to_json()],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "TMPDIR": str(tmp)}, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120  # a bound for a stuck run, not a speed assertion
        while not list(tmp.glob("gradcheck-zygote-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(tmp.glob("gradcheck-zygote-*")), "the worker never started its warm interpreter"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    orphan = tmp / f"gradcheck-zygote-{worker.pid}-killed-before-its-zygote-started"
    orphan.mkdir(exist_ok=True)  # what the worker leaves when killed in that window
    (orphan / "zygote.py").write_text("")
    subprocess.run([sys.executable, "-c", "from autograder.judge.judge import ZygoteLauncher as L; "
                    "launcher = L(); launcher.start(); launcher.close()"],
                   env={**os.environ, "TMPDIR": str(tmp)}, cwd=ROOT, check=True)
    deadline = time.monotonic() + 120  # its own bound: a slow start on a busy machine leaves it whole
    while list(tmp.glob("gradcheck-zygote-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(tmp.glob("gradcheck-zygote-*")), "the warm interpreter's folder outlived its killed worker"


def named_after_fork(pid: int) -> str:
    """The name a forked worker gives itself, once it has (it does so first thing after the fork)."""
    deadline = time.monotonic() + 60  # a bound for a stuck worker, not a speed assertion
    while (name := open(f"/proc/{pid}/comm").read().strip()) != WORKER_NAME.decode() and time.monotonic() < deadline:
        time.sleep(0.01)
    return name


def test_forked_workers_each_see_their_own_end_of_the_batch(tmp_path):
    """The first workers are forked from `grade` itself; each must hold only its own pipes, or a
    worker told to stop (its task pipe closed) would wait for its neighbour to let go."""
    import subprocess

    from autograder.judge.sandbox import Limits
    from autograder.pipeline.workers.messages import WorkerSettings
    from autograder.pipeline.workers.pool import start_workers

    course = tmp_path / "course"
    course.mkdir()
    workers = start_workers(WorkerSettings(course, "gradient_checking", f"sqlite:///{tmp_path / 'g.db'}", Limits()), 2)
    try:
        assert all(w.proc.__class__.__name__ == "_Forked" for w in workers), "the first workers are forks"
        assert named_after_fork(workers[0].proc.pid) == "grading-worker"
        workers[0].proc.stdin.close()  # the first one is told to stop; the second keeps running
        try:
            workers[0].proc.wait(timeout=120)  # a bound for a stuck run, not a speed assertion
        except subprocess.TimeoutExpired:
            raise AssertionError("a forked worker did not see its task pipe close") from None
        assert workers[0].proc.returncode == 0 and workers[1].proc.poll() is None
    finally:
        for worker in workers:
            worker.stop(kill=True)


def test_forked_workers_judge_with_the_zygote_grade_shares(tmp_path):
    """`grade` starts one warm zygote before it imports nbgrader and hands each forked worker a
    connection to it: no worker starts one of its own."""
    from autograder.judge.sandbox import Limits
    from autograder.pipeline.workers.messages import WorkerSettings
    from autograder.pipeline.workers.pool import ZYGOTE_FD, share_zygote, start_workers

    course = tmp_path / "course"
    course.mkdir()
    owner, connections = share_zygote(2)
    workers = start_workers(WorkerSettings(course, "gradient_checking", f"sqlite:///{tmp_path / 'g.db'}", Limits()), 2,
                            zygote=connections)
    try:
        assert all(c.fileno() == -1 for c in connections), "each connection is its worker's alone"
        time.sleep(2)  # a worker without a connection starts its own zygote at once
        for worker in workers:
            assert named_after_fork(worker.proc.pid) == "grading-worker"  # set up
            assert os.readlink(f"/proc/{worker.proc.pid}/fd/{ZYGOTE_FD}").startswith("socket:")
        for worker in workers:
            with open(f"/proc/{worker.proc.pid}/task/{worker.proc.pid}/children") as children:
                assert children.read().split() == [], "a worker started a zygote of its own"
        assert owner.running
    finally:
        for worker in workers:
            worker.stop(kill=True)
        owner.close()
