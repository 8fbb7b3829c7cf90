"""Shared fixtures: paths, the solved sample notebook, and the demo samples graded once a session."""
import contextlib
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny matrices: threads only add noise on shared runners
import sys
from pathlib import Path

import nbformat
import pytest

# tests/ on sys.path whatever the import mode, so every test folder imports the `support` package.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import ROOT, SAMPLE_LIMITS, SOURCE  # noqa: E402,F401 (the paths are support's; re-exported)


def pytest_configure(config):
    """The checkout is a course too, and the first grading in it makes its secret: made here, before
    any test, no test sees the file appear while it checks the checkout is never written."""
    from autograder.grading.secret import course_secret
    course_secret(ROOT)


@pytest.fixture
def solved_notebook():
    """A student's complete, correct submission (the demo's perfect sample)."""
    return nbformat.read(ROOT / "samples" / "gradient_checking" / "perfect.ipynb", as_version=4)


@pytest.fixture(scope="session")
def graded_samples(tmp_path_factory):
    """graded_samples(assignment): `autograder grade` of samples/<assignment>/, run once a session.

    60 s per submission: the lab's judge alone takes 13-16 s on a busy 2-core machine, and a
    looping sample is still cut off after a quarter of that."""
    from autograder.pipeline.run.grade import grade

    runs = {}

    def graded(assignment: str):
        if assignment not in runs:
            out = tmp_path_factory.mktemp(f"graded-{assignment}")
            runs[assignment] = grade(ROOT / "samples" / assignment, assignment, out, jobs=2,
                                     limits=SAMPLE_LIMITS[assignment], progress=False)
        return runs[assignment]
    return graded


#: The grader modules whose cached hidden draws depend on the course secret.
_DRAWING_MODULES = [("gradient_checking", "cases"), ("gradient_checking", "checks"), ("gradient_checking_lab", "checks")]


def _drop_cached_draws() -> None:
    from autograder.course import graders
    for assignment, name in _DRAWING_MODULES:
        for value in vars(graders.module(assignment, name)).values():
            if hasattr(value, "cache_clear"):
                value.cache_clear()


@pytest.fixture
def pin_secret():
    """pin_secret(hex): this test's hidden cases come from that course secret (one a sweep found
    a fault with); cached draws are dropped before and after, so no other test sees them."""
    from autograder.grading import secret as secrets

    with contextlib.ExitStack() as pins:
        def pin(secret: str) -> None:
            pins.enter_context(secrets.pinned(secret.encode()))
            _drop_cached_draws()
        yield pin
    _drop_cached_draws()
