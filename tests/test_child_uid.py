"""Concurrent graders' children never share a uid, including graders forked from one process
(the first workers are forks of `grade`): a shared uid would let one worker's sweep kill the
other's running child, and let two students' code signal each other where namespaces are refused."""
import os

import pytest

from autograder.judge.sandbox import child_uid


@pytest.mark.skipif(os.geteuid() != 0, reason="children get a uid of their own only when the grader is root")
def test_a_forked_grader_takes_a_uid_of_its_own():
    mine = child_uid()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, str(child_uid()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    theirs = int(os.read(read_end, 64) or b"-1")
    os.close(read_end)
    os.waitpid(pid, 0)
    assert mine is not None and theirs != mine
    assert child_uid() == mine  # the parent keeps its own


def test_a_forked_grader_never_drives_its_parents_zygote_or_feedback_helper():
    """A worker forked from `grade` (or from a test run that judged before) starts its own warm
    zygote and feedback helper: the parent's answer to the parent, and stopping them at the
    child's exit would kill what the parent is using."""
    from autograder.judge import judge
    from autograder.pipeline import worker

    launcher = judge.default_launcher()
    worker._HELPERS[("course", "db")] = object()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, f"{len(judge._DEFAULT)} {len(worker._HELPERS)}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    seen = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    try:
        assert seen == "0 0"
        assert judge._DEFAULT == [launcher]  # the parent keeps its own
    finally:
        worker._HELPERS.pop(("course", "db"), None)
