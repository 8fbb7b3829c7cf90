"""The second assignment, gradient_checking_lab: what is particular to it.

- plain nbgrader gives the source notebook full marks, the release zero on every exercise, and
  a notebook with bugs in functions others call loses only those functions' exercises;
- the hidden cases certify, and the visible tests' numbers are the reference's.

What every assignment must do (release in sync, the judge's full marks and `missing`, samples,
planted bugs and other correct implementations from assignments/gradient_checking_lab/
planted_bugs.toml) is tested in tests/course/test_assignments.py.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest

matplotlib.use("Agg")

from autograder.course import graders, notebook as notebooks  # noqa: E402
from autograder.course.manifest import tolerances_for  # noqa: E402

from support import ROOT  # noqa: E402
from support.submissions import planted_rows  # noqa: E402
from test_assignments import inside  # noqa: E402

ASSIGNMENT = "gradient_checking_lab"
SOURCE = ROOT / "source" / ASSIGNMENT
RELEASE = ROOT / "release" / ASSIGNMENT
EXERCISES = {cell.function: cell.points for cell in notebooks.exercises(SOURCE / f"{ASSIGNMENT}.ipynb")}
cases = graders.module("gradient_checking", "cases")
network = graders.module("gradient_checking", "reference")
checks = graders.module(ASSIGNMENT, "checks")
reference = graders.module(ASSIGNMENT, "reference")
resolve = graders.load(ASSIGNMENT).resolve


def read_notebook(folder: Path) -> nbformat.NotebookNode:
    return nbformat.read(folder / f"{ASSIGNMENT}.ipynb", as_version=4)


def is_test_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


@pytest.fixture(scope="module")
def tol():
    return tolerances_for(ASSIGNMENT)


# ---- the contract ------------------------------------------------------------------------------

def test_each_exercise_is_a_solution_cell_with_a_test_cell_of_its_points():
    cells = read_notebook(SOURCE).cells
    solutions = [c.metadata["nbgrader"]["grade_id"] for c in cells
                 if c.metadata.get("nbgrader", {}).get("solution")]
    tests = {c.metadata["nbgrader"]["grade_id"]: c for c in cells if is_test_cell(c)}
    assert solutions == list(EXERCISES) == list(checks.CHECKS)
    assert sorted(tests) == sorted(f"test_{fn}" for fn in EXERCISES)
    assert all(points > 0 for points in EXERCISES.values())
    for fn in EXERCISES:
        source = tests[f"test_{fn}"].source
        visible, hidden = source.split("### BEGIN HIDDEN TESTS")
        assert f"lab_tests.test_{fn}({fn})" in visible
        assert f'hidden_check("{fn}", globals(), assignment="{ASSIGNMENT}")' in hidden
        assert hidden.rstrip().endswith("### END HIDDEN TESTS")


def test_the_manifest_loads_with_the_course_tolerances(tol):
    assert (tol.threshold, tuple(tol.epsilons)) == (1e-7, (1e-4, 3e-5, 1e-5, 3e-6, 1e-6))


# ---- hidden cases and visible numbers ----------------------------------------------------------

#: Course secrets whose hidden draws once broke a dropout case: with new masks in every pass a
#: nudged sigmoid saturated, so the wrong way's difference was nan (no hint could match it).
DROPOUT_SECRETS = ["73c203bbf1bfe1426b9842133a35aaade2911090c5656653fc551c4720b8fb53"]


@pytest.mark.parametrize("secret", DROPOUT_SECRETS)
def test_dropout_cases_are_finite_and_silent_under_other_secrets(secret, tol, pin_secret):
    import warnings
    pin_secret(secret)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # certifying prints nothing (a kernel would show it)
        drawn = checks.dropout_cases(tol)
    assert {d.keep_prob for d in drawn} == {0.8, 0.5, 1.0, 0.7}
    for d in drawn:
        assert np.isfinite(d.expected) and np.isfinite(d.new_masks)
        assert d.keep_prob == 1 or d.new_masks > tol.threshold * 100


#: Course secrets with a draw whose second layer is dead: dW3's gradient and estimate are both 0,
#: and a block_differences written with the course's formula returns 0/0 = nan there.
DEAD_LAYER_SECRETS = ["835f0bb9ff6f6cbbf4677f2f02c69389508dbbadc49889f53d9a8146140b8570"]


@pytest.mark.parametrize("secret", DEAD_LAYER_SECRETS)
def test_no_bug_case_has_a_block_that_is_zero_on_both_sides(secret, tol, pin_secret):
    from support.submissions import planted_rows as rows
    from test_assignments import check_planted_bug
    pin_secret(secret)
    for bc in checks.bug_cases(tol):
        _, cache = network.forward_propagation_n(bc.case.X, bc.case.Y, bc.case.parameters)
        exact = network.backward_propagation_n(bc.case.X, bc.case.Y, cache)
        assert all(np.any(exact[k]) for k in network.GRAD_KEYS), bc.label
    row = next(r for r in rows(ASSIGNMENT) if r["id"] == "ok_other_block_differences")
    check_planted_bug(ASSIGNMENT, ROOT, row)  # the course's formula, written another way: full marks


def test_hidden_cases_are_certified_and_discriminating(tol):
    bugs = checks.bug_cases(tol)
    assert {b.bug for b in bugs} == {None, *reference.BUGGY_BACKWARDS}
    assert len({b.expected_block for b in bugs}) >= 6  # every block, and None
    for b in bugs:
        assert all(d < tol.threshold / 100 or d > tol.threshold * 100 for d in b.differences.values())
    for d in checks.dropout_cases(tol):
        if d.keep_prob < 1:
            assert d.new_masks > tol.threshold * 100  # drawing new masks fails every one of them
    clipped = [t for t in checks.training_cases(tol) if t[0].backward.endswith("clipped_W3")]
    assert clipped and all(diffs[0] < tol.threshold < diffs[-1] for _, diffs, _ in clipped)
    for case in checks.curve_cases():  # CURVE_RTOL's premise: every compared error is > 1e-12
        assert min(np.min(curve) for curve in checks.reference_curve(case)) > 1e-12
    for case, epsilons in checks.best_epsilon_cases():
        one, two = reference.error_curve(resolve(case.cost), resolve(case.gradient), case.theta, list(epsilons))
        best = reference.best_epsilon(epsilons, one, two)
        assert best[0] < best[1] and np.min(two) < np.min(one)


def test_visible_test_numbers_are_the_references():
    with inside(SOURCE):
        import lab_tests
        import lab_utils
    classic = cases.classic_case()
    _, cache = network.forward_propagation_n(classic.X, classic.Y, classic.parameters)
    blocks = reference.block_differences(classic.parameters, reference.classic_bugs_backward(classic.X, classic.Y, cache),
                                 classic.X, classic.Y, 1e-5)
    for key, value in lab_tests.CLASSIC_BUGS_BLOCKS.items():
        assert np.isclose(blocks[key], value, rtol=1e-6)
    X, Y, parameters = lab_utils.training_data(2, m=4, scale=0.5)
    masks = reference.draw_masks(X, 0.7, np.random.default_rng(1000))
    no_rescale = lambda X, Y, c, kp: reference.backward_with_dropout(X, Y, c, kp, rescale=False)
    assert np.isclose(reference.dropout_gradient_check(parameters, X, Y, 0.7, 1e-5, masks, no_rescale),
                      lab_tests.DROPOUT_NO_RESCALE, rtol=1e-6)
    X, Y, parameters = lab_utils.training_data(4)
    for name, backward in (("correct", network.backward_propagation_n), ("clipped", reference.clipped_W3_backward)):
        _, final, _ = reference.check_during_training(parameters, X, Y, 0.3, 60, 20, 1e-5, backward)
        assert np.allclose(final["W3"].ravel(), lab_tests.TRAINED_W3[name], rtol=1e-9)


# ---- graded end to end ---------------------------------------------------------------------------

#: A course secret one of whose hidden draws saturates the sigmoid: certifying it computed log(0),
#: and its RuntimeWarning, printed in a hidden test cell, cost a correct exercise its points
#: under plain nbgrader (which zeroes a test cell that writes to stderr).
SATURATING_SECRET = "fd604f9c9ef6eb71043a7e3aec0b8e8fe7b121df01ad1107ed73681693d343f7"


def nbgrader(course: Path, *args: str) -> None:
    """Run nbgrader on the course copy, whose graders and secret the kernels use too."""
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               AUTOGRADER_COURSE_ROOT=str(course))
    run = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{run.stdout}\n{run.stderr[-3000:]}"


#: One bug in each function another graded function calls (and one more): with plain nbgrader,
#: visible and hidden tests alike, the functions that call them keep their points.
MIXED_BUGS = [(row["function"], row["old"], row["new"], row["why"]) for row in planted_rows(ASSIGNMENT)
              if row["id"] in ("ec_eps_not_2eps", "bd_the_whole_vector_for_every_block",
                               "dgc_new_masks_in_the_j_plus_passes", "fppc_biases_forgotten")]


def planted_notebook(bugs) -> nbformat.NotebookNode:
    nb = read_notebook(SOURCE)
    for function, old, new, _ in bugs:
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == function
                    and c.metadata["nbgrader"].get("solution"))
        cell.source = cell.source.replace(old, new)
    return nb


def test_plain_nbgrader_grades_the_source_the_release_and_planted_bugs(tmp_path):
    from nbgrader.api import Gradebook
    course = tmp_path / "course"
    skip = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    assert len(MIXED_BUGS) == 4
    shutil.copytree(ROOT / "source", course / "source", ignore=skip)
    shutil.copytree(ROOT / "assignments", course / "assignments", ignore=skip)
    shutil.copy2(ROOT / "nbgrader_config.py", course)
    (course / ".autograder-secret").write_text(SATURATING_SECRET + "\n")
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    submissions = {"solved": read_notebook(SOURCE), "untouched": read_notebook(course / "release" / ASSIGNMENT),
                   "mixed": planted_notebook(MIXED_BUGS)}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:  # as `nbgrader db student add`, faster
        for student in submissions:
            gb.update_or_create_student(student)
    for student, nb in submissions.items():
        target = course / "submitted" / student / ASSIGNMENT
        shutil.copytree(course / "release" / ASSIGNMENT, target)
        nbformat.write(nb, target / f"{ASSIGNMENT}.ipynb")
    nbgrader(course, "autograde", ASSIGNMENT, "--force")
    buggy = {fn for fn, *_ in MIXED_BUGS}
    expected = {"solved": {f"test_{fn}": (p, p) for fn, p in EXERCISES.items()},
                "untouched": {f"test_{fn}": (0, p) for fn, p in EXERCISES.items()},
                "mixed": {f"test_{fn}": (0 if fn in buggy else p, p) for fn, p in EXERCISES.items()}}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in submissions:
            notebook = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            assert {g.name: (g.score, g.max_score) for g in notebook.grades} == expected[student], student


