"""Shared fixtures: paths, the solved sample notebook, and the demo samples graded once a session."""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny matrices: threads only add noise on shared runners
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _sample_limits():
    from autograder.judge.sandbox import Limits
    return Limits(wall_seconds=60, memory_mb=1024)


#: The limits the session's sample grading runs under (a rerun under the same ones may resume).
SAMPLE_LIMITS = _sample_limits()
SOURCE = ROOT / "source" / "gradient_checking"


@pytest.fixture
def solved_notebook():
    """A student's complete, correct submission (the demo's perfect sample)."""
    return nbformat.read(ROOT / "samples" / "gradient_checking" / "perfect.ipynb", as_version=4)


@pytest.fixture(scope="session")
def graded_samples(tmp_path_factory):
    """graded_samples(assignment): `autograder grade` of samples/<assignment>/, run once a session.

    60 s per submission: the lab's judge alone takes 13-16 s on a busy 2-core machine, and a
    looping sample is still cut off after a quarter of that."""
    from autograder.pipeline.grade import grade

    runs = {}

    def graded(assignment: str):
        if assignment not in runs:
            out = tmp_path_factory.mktemp(f"graded-{assignment}")
            runs[assignment] = grade(ROOT / "samples" / assignment, assignment, out, jobs=2,
                                     limits=SAMPLE_LIMITS, progress=False)
        return runs[assignment]
    return graded
