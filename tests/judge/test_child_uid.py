"""A submission's children run as a uid no other submission ever gets, in this run or a later
one, including submissions graded by processes forked from one (the first workers are forks of
`grade`): a shared uid would let one worker's sweep kill the other's running child, let two
students' code signal each other where namespaces are refused, and let what one left (a process,
a setuid copy of a program) act as a later one."""
import os
import signal
import time
from pathlib import Path

import pytest

from autograder.judge import sandbox
from autograder.judge.sandbox import submission_uid


@pytest.mark.skipif(os.geteuid() != 0, reason="children get a uid of their own only when the grader is root")
def test_no_two_submissions_get_one_uid_even_across_forks_and_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "UID_FOLDERS", (str(tmp_path),))
    sandbox.forget_reserved_uids()  # count in tmp_path from the start
    try:
        mine = [submission_uid() for _ in range(sandbox.UID_BLOCK + 3)]  # past one reserved block
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.write(write_end, " ".join(str(submission_uid()) for _ in range(3)).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        theirs = [int(u) for u in os.read(read_end, 256).split()]
        os.close(read_end)
        os.waitpid(pid, 0)
        mine += [submission_uid() for _ in range(3)]  # the rest of its block: the child took none of it
        sandbox.forget_reserved_uids()  # as a later run starts: only the count on disk is left
        later = [submission_uid() for _ in range(3)]
    finally:
        sandbox.forget_reserved_uids()  # later tests count on the machine's count again
    every = mine + theirs + later
    assert len(set(every)) == len(every) and min(every) >= sandbox.FIRST_CHILD_UID, every
    counter = tmp_path / "gradcheck-judge" / sandbox.UID_FILE
    assert counter.stat().st_uid == 0 and not counter.stat().st_mode & 0o077


def test_a_forked_grader_never_drives_its_parents_zygote_or_feedback_helper():
    """A worker forked from `grade` (or from a test run that judged before) starts its own warm
    zygote and feedback helper: the parent's answer to the parent, and stopping them at the
    child's exit would kill what the parent is using."""
    from autograder.judge import judge
    from autograder.pipeline.workers import worker
    from autograder.pipeline.workers.messages import WorkerSettings

    settings = WorkerSettings(Path("course"), "gradient_checking", "db")
    launcher, helper = judge.default_launcher(), worker.feedback_helper(settings)  # neither forks yet
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            theirs = judge.default_launcher() is launcher, worker.feedback_helper(settings) is helper
            os.write(write_end, " ".join(map(str, theirs)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    seen = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    try:
        assert seen == "False False"  # the child made its own of each
        assert judge.default_launcher() is launcher and worker.feedback_helper(settings) is helper  # the parent's
    finally:
        worker.close_feedback_helpers()


def _process_of(uid: int) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            while True:
                signal.pause()
        finally:
            os._exit(0)
    return pid


@pytest.mark.skipif(os.geteuid() != 0, reason="the sweep acts only when the grader is root")
@pytest.mark.parametrize("spawned", [True, False], ids=["setpriv", "fork"])
def test_the_sweep_ends_every_process_of_its_uid_and_no_other(monkeypatch, spawned):
    """What a child left running (setsid, double fork) dies with the sweep, by posix_spawn of
    setpriv and kill (no copy of the grader's memory) or, without them, by a fork."""
    from autograder.judge import sandbox
    if not spawned:
        monkeypatch.setattr(sandbox, "SETPRIV_PROGRAM", None)
    elif not (sandbox.SETPRIV_PROGRAM and sandbox.KILL_PROGRAM):
        pytest.skip("no setpriv or kill on this machine: the fork is the sweep")
    uid = submission_uid()
    left = [_process_of(uid) for _ in range(3)]
    other = _process_of(uid + 7919)  # another slot's child
    try:
        time.sleep(0.2)
        sandbox.sweep(uid)
        deadline = time.monotonic() + 60  # a bound for a stuck kill, not a speed assertion
        ended = {}
        while len(ended) < len(left) and time.monotonic() < deadline:
            for pid in left:
                if pid not in ended and os.waitpid(pid, os.WNOHANG)[0]:
                    ended[pid] = True
            time.sleep(0.02)
        assert len(ended) == len(left), "a process of the swept uid survived"
        assert os.waitpid(other, os.WNOHANG) == (0, 0), "the sweep ended another uid's process"
    finally:
        for pid in left + [other]:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
