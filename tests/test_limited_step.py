"""A worker's step in a forked, capped child: its answer, its failure or its overrun, never the worker's."""
import os
import signal
import time

from autograder.pipeline.worker import in_limited_child


def test_a_step_that_succeeds_answers_nothing():
    assert in_limited_child(lambda: "") == ""


def test_a_steps_own_complaint_and_its_exception_come_back():
    assert in_limited_child(lambda: "the page could not be written") == "the page could not be written"

    def broken():
        raise ValueError("no such template")
    assert in_limited_child(broken) == "ValueError: no such template"


def test_a_step_that_overruns_is_killed_at_its_time():
    assert in_limited_child(lambda: time.sleep(30), seconds=1.0) == "it took longer than 1 s"


def test_a_step_killed_by_a_signal_is_reported_as_such():
    assert in_limited_child(lambda: os.kill(os.getpid(), signal.SIGKILL)) == "it was ended by signal 9"


def test_a_step_that_exhausts_its_memory_cap_fails_alone():
    message = in_limited_child(lambda: len(bytearray(512 * 1024 * 1024)) and "", extra_mb=64)
    assert message.startswith("MemoryError")
    assert in_limited_child(lambda: "") == ""  # the worker is untouched


def test_a_long_answer_is_cut_not_blocking():
    assert in_limited_child(lambda: "x" * 100_000) == "x" * 4000


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
    done = subprocess.run([sys.executable, "-m", "autograder.pipeline.worker", "--serve", "--course", str(course),
                           "--assignment", "gradient_checking", "--db", f"sqlite:///{tmp_path / 'g.db'}"],
                          input="", capture_output=True, text=True, env=env, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert not list(tmp.glob("zygote-*")), "the warm interpreter's folder is left behind"
    for proc in Path("/proc").iterdir():
        try:
            assert not os.readlink(proc / "cwd").startswith(str(tmp)), f"process {proc.name} is still running"
        except (OSError, ValueError):
            continue


def test_a_killed_worker_leaves_no_warm_interpreter_folder(tmp_path):
    """SIGKILL gives a worker no chance to clean up: its zygote sees the control socket close,
    removes its own folder and exits."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    course = tmp_path / "course"
    course.mkdir()
    worker = subprocess.Popen([sys.executable, "-m", "autograder.pipeline.worker", "--serve", "--course", str(course),
                               "--assignment", "gradient_checking", "--db", f"sqlite:///{tmp_path / 'g.db'}"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "TMPDIR": str(tmp)}, cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.monotonic() + 120  # a bound for a stuck run, not a speed assertion
        while not list(tmp.glob("zygote-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(tmp.glob("zygote-*")), "the worker never started its warm interpreter"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    while list(tmp.glob("zygote-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(tmp.glob("zygote-*")), "the warm interpreter's folder outlived its killed worker"
