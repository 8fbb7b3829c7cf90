"""Shared fixtures: paths, the solved sample notebook, and a quick way to judge a notebook."""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny matrices: threads only add noise on shared runners
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source" / "gradient_checking"


@pytest.fixture
def solved_notebook():
    """A student's complete, correct submission (the demo's perfect sample)."""
    return nbformat.read(ROOT / "samples" / "gradient_checking" / "perfect.ipynb", as_version=4)
