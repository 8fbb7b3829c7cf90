"""release/ is what nbgrader generates from source/, byte for byte."""
from pathlib import Path

import pytest

from autograder import manifest
from autograder.release import generate

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("assignment", manifest.available(ROOT))
def test_release_matches_a_fresh_generate_assignment(assignment, tmp_path):
    fresh = generate(assignment, ROOT, dest=tmp_path / assignment)
    committed = ROOT / "release" / assignment
    fresh_files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    committed_files = sorted(p.relative_to(committed) for p in committed.rglob("*")
                             if p.is_file() and "__pycache__" not in p.parts)
    assert fresh_files == committed_files, "run ./kit release and commit release/"
    for rel in fresh_files:
        assert (fresh / rel).read_bytes() == (committed / rel).read_bytes(), \
            f"release/{assignment}/{rel} is out of date: run ./kit release {assignment} and commit it"


def test_release_has_no_solutions_or_hidden_tests():
    text = (ROOT / "release" / "gradient_checking" / "gradient_checking.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "hidden_check" not in text
    assert text.count("raise NotImplementedError()") == 9
