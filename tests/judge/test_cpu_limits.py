"""Limits that measure the student, not the machine: the judge charges the child's CPU time.

The lab's samples get their recorded statuses with both cores saturated by busy processes
beside the judge; a function that loops for ever still gets `timeout`, with a message naming
the CPU seconds it used and the limit; the CPU clock reads the child's processes from outside.
"""
from __future__ import annotations

import copy
import json
import multiprocessing
import os
import subprocess
import sys
import time

import nbformat
import pytest

from autograder.course import samples
from autograder.grading.results import exercise_of
from autograder.judge.cpu_clock import CpuClock, tree_cpu_seconds
from autograder.judge.judge import judge_notebook
from autograder.judge.sandbox import Limits

from support import ROOT, SOURCE

LAB = "gradient_checking_lab"
HELPERS = ROOT / "release" / LAB


def _burn():
    while True:
        pass


@pytest.fixture
def burner():
    """Three busy processes, one more than the machine's two cores, for the test's duration."""
    procs = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(3)]
    for p in procs:
        p.start()
    yield
    for p in procs:
        p.kill()
        p.join()


def test_the_clock_counts_a_busy_grandchild_and_ignores_what_it_says():
    # the shape of the judge's child: a launched process, a waiting one, the busy one below
    program = ("import os, time\nif os.fork() == 0:\n    t = time.process_time()\n"
               "    while time.process_time() - t < 0.6: pass\n    os._exit(0)\nos.wait()\n")
    proc = subprocess.Popen([sys.executable, "-c", "import os, subprocess, sys\n"
                             f"subprocess.run([sys.executable, '-c', {program!r}])"])
    clock = CpuClock(proc.pid)
    readings = []
    while proc.poll() is None:
        readings.append(clock.seconds(rescan=True))
        time.sleep(0.05)
    assert max(readings) >= 0.5  # the grandchild's 0.6 s, seen from outside while it ran
    assert tree_cpu_seconds(proc.pid) is None  # gone: no reading


def test_the_lab_samples_get_their_recorded_statuses_with_the_cores_saturated(burner):
    for sample in samples.recipes(LAB, ROOT):
        if sample.name not in ("perfect", "bug_dropout_new_masks"):
            continue  # the honest one that timed out under load, and one that loses an exercise
        nb = nbformat.read(ROOT / "samples" / LAB / f"{sample.name}.ipynb", as_version=4)
        judged = judge_notebook(nb, LAB, HELPERS, Limits(wall_seconds=60, memory_mb=1024))
        got = {r.exercise: r.status for r in judged.results}
        assert got == {e: sample.status(e) for e in got}, (sample.name, [r.message for r in judged.results])
        assert judged.wall_bound == []


def test_an_endless_loop_is_a_timeout_that_names_its_cpu_seconds():
    nb = nbformat.read(ROOT / "samples" / LAB / "perfect.ipynb", as_version=4)
    nb = copy.deepcopy(nb)
    victim = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "locate_bug"
                  and c.metadata["nbgrader"].get("solution"))
    start = "    cost, cache = forward_propagation_n(X, Y, parameters)"
    assert victim.source.count(start) == 1
    victim.source = victim.source.replace(start, "    while True:\n        pass\n" + start)
    judged = judge_notebook(nb, LAB, HELPERS, Limits(wall_seconds=24, memory_mb=1024),
                            functions=["locate_bug", "forward_passes_per_check"])  # the next still passes
    by = {r.exercise: r for r in judged.results}
    assert by[exercise_of("locate_bug")].status == "timeout"
    assert "of 6 CPU seconds, the time limit of one step" in by[exercise_of("locate_bug")].message
    assert judged.wall_bound == []
    assert all(r.status == "passed" for e, r in by.items() if e != exercise_of("locate_bug")), \
        {e: r.message for e, r in by.items()}


def test_a_timeout_the_machine_caused_is_graded_again_and_never_resumed(tmp_path):
    from autograder.pipeline.gradebook import verdicts
    from autograder.pipeline.run.grade import slowed_by_load
    from autograder.pipeline.run.resume import previous_verdict
    from autograder.pipeline.workers.messages import Answer, Outcome
    record = tmp_path / "verdicts" / "ann" / f"{LAB}.json"
    record.parent.mkdir(parents=True)
    feedback = tmp_path / "feedback" / "ann" / LAB / "lab.html"
    feedback.parent.mkdir(parents=True)
    feedback.write_text("")
    for wall_bound, again in (([], False), (["locate_bug"], True)):
        record.write_text(json.dumps({"submission_sha256": "x", "resume_key": "k", "complete": True,
                                      "exercises": [], "wall_bound": wall_bound}))
        answered = Answer(True, record=verdicts.read_at(record))  # the record the worker's answer carries
        assert slowed_by_load(Outcome("ann", True, answer=answered)) is again
        assert (previous_verdict(tmp_path, LAB, "lab", "ann", "x", "k") is None) is again
    assert slowed_by_load(Outcome("ann", False, "timeout"))
    assert not slowed_by_load(Outcome("ann", False, "error"))
    assert not slowed_by_load(Outcome("ann", True))  # no record: settled as an error, not graded again


def test_a_flood_of_calls_to_a_trusted_function_is_charged_and_stopped_on_cpu_time():
    """A loop calling the judge's forward_propagation_n never lets the judge's wait idle; the
    judge's CPU answering counts as the step's, so the step ends on its CPU limit, not wall time."""
    from test_judge import with_body
    nb = nbformat.read(SOURCE / "gradient_checking.ipynb", as_version=4)
    nb = with_body(nb, "gradient_check_n", "while True:\n    forward_propagation_n(X, Y, parameters)")
    judged = judge_notebook(nb, "gradient_checking", SOURCE, Limits(wall_seconds=20, memory_mb=768),
                            functions=["gradient_check_n", "forward_propagation"])
    by = {r.function: r for r in judged.results}
    assert by["gradient_check_n"].status == "timeout", by["gradient_check_n"].message
    assert "of 5 CPU seconds, the time limit of one step" in by["gradient_check_n"].message
    assert judged.wall_bound == []
    assert by["forward_propagation"].status == "passed"


def test_a_sleeping_call_is_charged_wall_time_and_is_not_graded_again():
    """A call that only sleeps uses no CPU: it is stopped when its step's wall time (set once by the
    judge: the step's CPU budget plus a margin) runs out, as a timeout of its own, never as a
    submission the busy machine slowed down; the next exercise still passes."""
    from test_judge import with_body
    from autograder.judge.budget import step_budget
    nb = nbformat.read(SOURCE / "gradient_checking.ipynb", as_version=4)
    nb = with_body(nb, "gradient_check_n", "import time\nwhile True:\n    time.sleep(1)")
    limits = Limits(wall_seconds=4, memory_mb=768)
    started = time.monotonic()
    judged = judge_notebook(nb, "gradient_checking", SOURCE, limits, functions=["gradient_check_n", "forward_propagation"])
    by = {r.function: r for r in judged.results}
    assert by["gradient_check_n"].status == "timeout", by["gradient_check_n"].message
    assert "slept or waited" in by["gradient_check_n"].message
    assert judged.wall_bound == []
    assert by["forward_propagation"].status == "passed"
    # Generous: the step's wall budget and the children's start-up, never ten times the limit.
    assert time.monotonic() - started < step_budget(limits.wall_seconds).wall_seconds + 30


def test_a_child_that_says_loading_again_does_not_restart_its_clock():
    """The child announces each cell as it starts; one that announces the same cell again (to
    restart its step's wall clock while it sleeps) broke the protocol: the cell is stopped."""
    from test_judge import with_cell
    nb = nbformat.read(SOURCE / "gradient_checking.ipynb", as_version=4)
    index = len(nb.cells)  # the new cell's
    # Student code forging the child's own message (its private _send): the attack, from inside the sandbox.
    nb = with_cell(nb, "import __main__ as _m, time\nwhile True:\n"
                       f"    _m._send({{'type': 'loading', 'cell': {index}}})\n    time.sleep(0.2)")
    started = time.monotonic()
    judged = judge_notebook(nb, "gradient_checking", SOURCE, Limits(wall_seconds=4, memory_mb=768),
                            functions=["forward_propagation"])
    assert index in judged.skipped_cells and "protocol" in judged.skipped_cells[index], judged.skipped_cells
    assert time.monotonic() - started < 30
    assert [r.status for r in judged.results] == ["passed"]
