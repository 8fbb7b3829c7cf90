"""Hidden cases stay hidden: they are drawn from a course secret, never from fixed seeds.

Two secrets give different cases, both certified; the same secret gives the same cases (a
resumed or repeated run grades alike); the secret is created once, never released, never in a
Gradescope zip, and the judge's child cannot read it.
"""
from __future__ import annotations

import copy
import subprocess
import zipfile

import nbformat
import numpy as np

from autograder.course import graders
from autograder.gradescope.build import build_zip
from autograder.grading.secret import SECRET_FILE, course_secret, hidden_rng, hidden_seed
from autograder.judge.judge import judge_notebook
from autograder.judge.sandbox import Limits

from support import ROOT, SOURCE

cases = graders.module("gradient_checking", "cases")
reference = graders.module("gradient_checking", "reference")
SECRET_A, SECRET_B = b"a" * 64, b"b" * 64


def _certified(case) -> bool:
    """The certification, checked again from the outside: no ReLU kink within ±ε of any
    parameter, no saturated sigmoid, the reference gradient 100x under the threshold."""
    theta, _ = reference.dictionary_to_vector(case.parameters)
    steps = case.epsilon * np.eye(reference.N_PARAMS)
    patterns = cases.activation_pattern(case.X, np.hstack([theta, theta + steps, theta - steps]))
    _, cache = reference.forward_propagation_n(case.X, case.Y, case.parameters)
    return bool((patterns == patterns[0]).all() and np.max(np.abs(cache[8])) <= cases.MAX_LOGIT
                and case.reference_difference * cases.SAFETY_MARGIN <= 1e-7)


def test_two_secrets_give_different_certified_cases_and_one_secret_the_same():
    a, b = cases.network_cases(secret=SECRET_A), cases.network_cases(secret=SECRET_B)
    again = cases.draw_network_cases(cases.Tolerances(), SECRET_A)  # drawn afresh, not cached
    assert [c.X.shape for c in a] == [c.X.shape for c in b]
    for x, y, z in zip(a[1:], b[1:], again[1:]):  # a[0] is the public classic case
        assert not np.array_equal(x.X, y.X)
        assert np.array_equal(x.X, z.X) and np.array_equal(x.Y, z.Y)
        assert all(np.array_equal(x.parameters[k], z.parameters[k]) for k in x.parameters)
    assert all(_certified(c) for c in a + b)
    assert hidden_seed("x", 1, secret=SECRET_A) != hidden_seed("x", 1, secret=SECRET_B)
    assert hidden_seed("x", 1, secret=SECRET_A) != hidden_seed("x", 2, secret=SECRET_A)
    assert hidden_rng("x", secret=SECRET_A).random() == hidden_rng("x", secret=SECRET_A).random()


def test_the_secret_is_made_once_and_kept(tmp_path):
    first = course_secret(tmp_path)
    assert len(first) == 64 and (tmp_path / SECRET_FILE).stat().st_mode & 0o077 == 0
    assert (tmp_path / SECRET_FILE).read_bytes().strip() == first
    assert list(tmp_path.iterdir()) == [tmp_path / SECRET_FILE]  # no temporary file left


def test_the_secret_is_never_released_committed_or_zipped(tmp_path):
    secret = course_secret(ROOT)
    ignored = subprocess.run(["git", "check-ignore", "-q", SECRET_FILE], cwd=ROOT)
    assert ignored.returncode == 0, f"{SECRET_FILE} must be in .gitignore"
    for folder in (ROOT / "release", ROOT / "source"):
        assert not list(folder.rglob(SECRET_FILE + "*"))
    for assignment in ("gradient_checking", "gradient_checking_lab"):
        with zipfile.ZipFile(build_zip(assignment, tmp_path / f"{assignment}.zip")) as zf:
            assert not [n for n in zf.namelist() if SECRET_FILE in n]
            assert not any(secret in zf.read(n) for n in zf.namelist())


def test_the_judges_child_cannot_read_the_secret(solved_notebook):
    secret = course_secret(ROOT)
    nb = copy.deepcopy(solved_notebook)
    nb.cells.append(nbformat.v4.new_code_cell(
        f"try:\n    print(open({str(ROOT / SECRET_FILE)!r}).read())\nexcept Exception as e:\n    print(type(e).__name__)"))
    judged = judge_notebook(nb, "gradient_checking", SOURCE, Limits(wall_seconds=60), functions=["forward_propagation"])
    shown = str(judged.cell_outputs.get(len(nb.cells) - 1))
    assert "stdout" in shown and secret.decode() not in shown
