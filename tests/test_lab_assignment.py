"""The second assignment, gradient_checking_lab: graded like the first, bug by bug.

- plain nbgrader gives the source notebook full marks and the release zero on every exercise;
- the judge (a limited child process, plain data over a pipe) agrees;
- a planted bug in one graded function loses exactly that exercise;
- other correct implementations pass, the hidden cases certify, the visible tests' numbers are
  the reference's, and release/ is what `autograder release` generates.
"""
from __future__ import annotations

import contextlib
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

from autograder import cases as C  # noqa: E402
from autograder import lab_checks, lab_reference as L, reference as R  # noqa: E402
from autograder.checks import run_check  # noqa: E402
from autograder.dependencies import resolve  # noqa: E402
from autograder.hidden import tolerances_for  # noqa: E402
from autograder.subject import InProcessSubject  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "gradient_checking_lab"
SOURCE = ROOT / "source" / ASSIGNMENT
RELEASE = ROOT / "release" / ASSIGNMENT
EXERCISES = {"error_curve": 2, "best_epsilon": 1, "block_differences": 2, "locate_bug": 2,
             "dropout_gradient_check": 2, "check_during_training": 2, "forward_passes_per_check": 1}


def read_notebook(folder: Path) -> nbformat.NotebookNode:
    return nbformat.read(folder / f"{ASSIGNMENT}.ipynb", as_version=4)


def is_test_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def solution_source(function: str) -> str:
    for cell in read_notebook(SOURCE).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") == function:
            return cell.source
    raise KeyError(function)


@contextlib.contextmanager
def inside(folder: Path):
    """cwd = folder and folder first on sys.path, as in the student's kernel."""
    old_cwd, old_path = os.getcwd(), list(sys.path)
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path


def run_notebook_code(folder: Path) -> dict:
    """Exec every code cell but the test cells (and `%` lines) in one namespace."""
    import matplotlib.pyplot as plt
    namespace = {"__name__": "__main__"}
    with inside(folder), np.errstate(all="ignore"):
        for cell in read_notebook(folder).cells:
            if cell.cell_type == "code" and not is_test_cell(cell):
                source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
                exec(compile(source, "<cell>", "exec"), namespace)
    plt.close("all")
    return namespace


@pytest.fixture(scope="module")
def tol():
    return tolerances_for(ASSIGNMENT)


@pytest.fixture(scope="module")
def notebook(tol):
    """The source notebook's globals after running it top to bottom (solutions included)."""
    return run_notebook_code(SOURCE)


def verdicts(namespace: dict, tol) -> dict:
    subject = InProcessSubject(namespace, resolve)
    with inside(SOURCE):
        return {fn: run_check(fn, subject, tol, lab_checks.CHECKS) for fn in EXERCISES}


@contextlib.contextmanager
def redefined(namespace: dict, function: str, source: str):
    """Exec another version of a solution cell into the namespace; restore the original after."""
    original = namespace[function]
    exec(compile(source, f"<{function}>", "exec"), namespace)
    try:
        yield
    finally:
        namespace[function] = original


# ---- the contract ------------------------------------------------------------------------------

def test_each_exercise_is_a_solution_cell_with_a_test_cell_of_its_points():
    cells = read_notebook(SOURCE).cells
    solutions = [c.metadata["nbgrader"]["grade_id"] for c in cells
                 if c.metadata.get("nbgrader", {}).get("solution")]
    tests = {c.metadata["nbgrader"]["grade_id"]: c for c in cells if is_test_cell(c)}
    assert solutions == list(EXERCISES) == list(lab_checks.CHECKS)
    assert {k: c.metadata["nbgrader"]["points"] for k, c in tests.items()} == \
        {f"test_{fn}": points for fn, points in EXERCISES.items()}
    for fn in EXERCISES:
        source = tests[f"test_{fn}"].source
        visible, hidden = source.split("### BEGIN HIDDEN TESTS")
        assert f"lab_tests.test_{fn}({fn})" in visible
        assert f'hidden_check("{fn}", globals(), assignment="{ASSIGNMENT}")' in hidden
        assert hidden.rstrip().endswith("### END HIDDEN TESTS")


def test_the_manifest_loads_with_the_course_tolerances(tol):
    assert (tol.threshold, tuple(tol.epsilons)) == (1e-7, (1e-4, 3e-5, 1e-5, 3e-6, 1e-6))


# ---- the solutions pass, planted bugs lose exactly their exercise --------------------------------

def test_the_solutions_pass_every_hidden_check(notebook, tol):
    results = verdicts(notebook, tol)
    assert {fn: r.status for fn, r in results.items()} == {fn: "passed" for fn in EXERCISES}, \
        {fn: r.message for fn, r in results.items() if not r.passed}


PLANTED_BUGS = [
    ("error_curve", "approx_two[i] = (J_plus - J_minus) / (2 * epsilon)",
     "approx_two[i] = (J_plus - J_minus) / epsilon", "ε instead of 2ε"),
    ("error_curve", "approx_one[i] = (J_plus - J) / epsilon",
     "approx_one[i] = (J - J_minus) / epsilon", "a backward difference"),
    ("best_epsilon", "best_one_sided = epsilons[np.argmin(one_sided)]",
     "best_one_sided = np.min(one_sided)", "the smallest error, not its ε"),
    ("best_epsilon", "best_two_sided = epsilons[np.argmin(two_sided)]",
     "best_two_sided = epsilons[np.argmin(one_sided)]", "the one-sided minimum twice"),
    ("block_differences", "relative_difference(grad[rows], gradapprox[rows])",
     "relative_difference(grad, gradapprox)", "the whole vector for every block"),
    ("block_differences", "gradapprox[i] = (J_plus - J_minus) / (2 * epsilon)",
     "gradapprox[i] = (J_plus - forward_propagation_n(X, Y, parameters)[0]) / epsilon", "one-sided"),
    ("locate_bug", 'for key in ["dW3", "db3", "dW2", "db2", "dW1", "db1"]:',
     'for key in ["dW1", "db1", "dW2", "db2", "dW3", "db3"]:', "forward order"),
    ("locate_bug", '    for key in ["dW3", "db3", "dW2", "db2", "dW1", "db1"]:\n'
                   '        if differences[key] > threshold:\n            return key',
     "    worst = max(differences, key=differences.get)\n"
     "    if differences[worst] > threshold:\n        return worst", "the largest difference"),
    ("dropout_gradient_check",
     "J_plus, _ = forward_with_dropout(X, Y, vector_to_dictionary(theta_plus), keep_prob, masks)",
     "J_plus, _ = forward_with_dropout(X, Y, vector_to_dictionary(theta_plus), keep_prob)",
     "new masks in the J_plus passes"),
    ("check_during_training", "if i % check_every == 0:", "if (i + 1) % check_every == 0:",
     "checks one iteration late"),
    ("check_during_training", 'parameters[key] = parameters[key] - learning_rate * gradients["d" + key]',
     'parameters[key] = parameters[key] - learning_rate * gradients["d" + key] / X.shape[1]',
     "a learning rate divided by m"),
    ("forward_passes_per_check", "layer_dims[l] * layer_dims[l - 1] + layer_dims[l]",
     "layer_dims[l] * layer_dims[l - 1]", "biases forgotten"),
    ("forward_passes_per_check", "passes = 2 * num_parameters", "passes = num_parameters",
     "one pass per parameter"),
]


@pytest.mark.parametrize("function, old, new, what", PLANTED_BUGS,
                         ids=[f"{fn}-{what}" for fn, _, _, what in PLANTED_BUGS])
def test_a_planted_bug_loses_exactly_its_exercise(notebook, tol, function, old, new, what):
    source = solution_source(function)
    assert source.count(old) == 1, f"{old!r} must occur once in the {function} cell"
    with redefined(notebook, function, source.replace(old, new)):
        results = verdicts(notebook, tol)
    lost = {fn for fn, r in results.items() if not r.passed}
    assert lost == {function}, {fn: r.message for fn, r in results.items()}
    assert results[function].status == "failed"
    assert "Look at" in results[function].message


OTHER_CORRECT = {
    "error_curve": '''
def error_curve(theta, epsilons):
    grad = gradient_function(theta)
    J = cost_function(theta)
    one, two = [], []
    for epsilon in epsilons:
        a1, a2 = np.empty_like(theta), np.empty_like(theta)
        for i in range(theta.size):
            step = np.zeros_like(theta)
            step.flat[i] = epsilon
            Jp, Jm = cost_function(theta + step), cost_function(theta - step)
            a1.flat[i] = (Jp - J) * (1 / epsilon)
            a2.flat[i] = 0.5 * (Jp - Jm) / epsilon
        one.append(np.linalg.norm(grad - a1) / (np.linalg.norm(grad) + np.linalg.norm(a1)))
        two.append(np.linalg.norm(grad - a2) / (np.linalg.norm(grad) + np.linalg.norm(a2)))
    return np.array(one).reshape(-1, 1), np.array(two)
''',
    "block_differences": '''
def block_differences(parameters, gradients, X, Y, epsilon=1e-6):
    out = {}
    for key in ["W1", "b1", "W2", "b2", "W3", "b3"]:
        g, a = gradients["d" + key].ravel(), np.zeros(parameters[key].size)
        for j in range(parameters[key].size):
            plus = {k: v.copy() for k, v in parameters.items()}
            minus = {k: v.copy() for k, v in parameters.items()}
            plus[key].flat[j] += epsilon
            minus[key].flat[j] -= epsilon
            a[j] = (forward_propagation_n(X, Y, plus)[0] - forward_propagation_n(X, Y, minus)[0]) / (2 * epsilon)
        out["d" + key] = float(np.linalg.norm(g - a) / (np.linalg.norm(g) + np.linalg.norm(a)))
    return out
''',
    "check_during_training": '''
def check_during_training(parameters, X, Y, learning_rate, num_iterations, check_every, epsilon=1e-5):
    parameters = {key: np.copy(value) for key, value in parameters.items()}
    differences = []
    for i in range(num_iterations):
        _, cache = forward_propagation_n(X, Y, parameters)
        gradients = backward_propagation_n(X, Y, cache)
        if not i % check_every:
            differences.append(float(gradient_check_n(parameters, gradients, X, Y, epsilon, False)))
        for key in parameters:
            parameters[key] -= learning_rate * gradients["d" + key]
    return np.array(differences), parameters
''',
}


@pytest.mark.parametrize("function", sorted(OTHER_CORRECT))
def test_another_correct_implementation_passes(notebook, tol, function):
    with redefined(notebook, function, OTHER_CORRECT[function]):
        result = verdicts(notebook, tol)[function]
    assert result.passed, result.message


# ---- hidden cases and visible numbers ----------------------------------------------------------

def test_hidden_cases_are_certified_and_discriminating(tol):
    bugs = lab_checks.bug_cases(tol)
    assert {b.bug for b in bugs} == {None, *L.BUGGY_BACKWARDS}
    assert len({b.expected_block for b in bugs}) >= 6  # every block, and None
    for b in bugs:
        assert all(d < tol.threshold / 100 or d > tol.threshold * 100 for d in b.differences.values())
    for d in lab_checks.dropout_cases(tol):
        if d.keep_prob < 1:
            assert d.new_masks > tol.threshold * 100  # drawing new masks fails every one of them
    clipped = [t for t in lab_checks.training_cases(tol) if t[0].backward.endswith("clipped_W3")]
    assert clipped and all(diffs[0] < tol.threshold < diffs[-1] for _, diffs, _ in clipped)
    for case in lab_checks.curve_cases():  # CURVE_RTOL's premise: every compared error is > 1e-12
        assert min(np.min(curve) for curve in lab_checks._reference_curve(case)) > 1e-12
    for case, epsilons in lab_checks.best_epsilon_cases():
        one, two = L.error_curve(resolve(case.cost), resolve(case.gradient), case.theta, list(epsilons))
        best = L.best_epsilon(epsilons, one, two)
        assert best[0] < best[1] and np.min(two) < np.min(one)


def test_visible_test_numbers_are_the_references():
    with inside(SOURCE):
        import lab_tests
        import lab_utils
    classic = C.classic_case()
    _, cache = R.forward_propagation_n(classic.X, classic.Y, classic.parameters)
    blocks = L.block_differences(classic.parameters, L.classic_bugs_backward(classic.X, classic.Y, cache),
                                 classic.X, classic.Y, 1e-5)
    for key, value in lab_tests.CLASSIC_BUGS_BLOCKS.items():
        assert np.isclose(blocks[key], value, rtol=1e-6)
    X, Y, parameters = lab_utils.training_data(2, m=4, scale=0.5)
    masks = L.draw_masks(X, 0.7, np.random.default_rng(1000))
    no_rescale = lambda X, Y, c, kp: L.backward_with_dropout(X, Y, c, kp, rescale=False)
    assert np.isclose(L.dropout_gradient_check(parameters, X, Y, 0.7, 1e-5, masks, no_rescale),
                      lab_tests.DROPOUT_NO_RESCALE, rtol=1e-6)
    X, Y, parameters = lab_utils.training_data(4)
    for name, backward in (("correct", R.backward_propagation_n), ("clipped", L.clipped_W3_backward)):
        _, final, _ = L.check_during_training(parameters, X, Y, 0.3, 60, 20, 1e-5, backward)
        assert np.allclose(final["W3"].ravel(), lab_tests.TRAINED_W3[name], rtol=1e-9)


# ---- graded end to end ---------------------------------------------------------------------------

def test_the_judge_gives_the_source_full_marks_and_the_release_nothing(tol):
    from autograder.judge.judge import judge_notebook
    from autograder.judge.sandbox import Limits
    good = judge_notebook(read_notebook(SOURCE), ASSIGNMENT, SOURCE, Limits(wall_seconds=60), tol)
    assert {r.function: r.status for r in good.results} == {fn: "passed" for fn in EXERCISES}, \
        {r.function: r.message for r in good.results}
    empty = judge_notebook(read_notebook(RELEASE), ASSIGNMENT, RELEASE, Limits(wall_seconds=60), tol)
    assert {r.status for r in empty.results} == {"missing"}


def nbgrader(course: Path, *args: str) -> None:
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    run = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{run.stdout}\n{run.stderr[-3000:]}"


#: One bug in each function another graded function calls (and one more): with plain nbgrader,
#: visible and hidden tests alike, the functions that call them keep their points.
MIXED_BUGS = [bug for bug in PLANTED_BUGS if bug[3] in (
    "ε instead of 2ε", "the whole vector for every block", "new masks in the J_plus passes", "biases forgotten")]


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
    shutil.copytree(ROOT / "source", course / "source", ignore=skip)
    shutil.copytree(ROOT / "assignments", course / "assignments", ignore=skip)
    shutil.copy2(ROOT / "nbgrader_config.py", course)
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


def test_the_committed_release_is_what_release_generates(tmp_path):
    from autograder.release import generate
    fresh = generate(ASSIGNMENT, ROOT, dest=tmp_path / ASSIGNMENT)
    committed = sorted(p.relative_to(RELEASE) for p in RELEASE.rglob("*") if p.is_file())
    generated = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    assert committed == generated
    for name in generated:
        assert (RELEASE / name).read_bytes() == (fresh / name).read_bytes(), f"{name} is out of date: ./kit release {ASSIGNMENT}"
    released = read_notebook(RELEASE)
    assert not any("BEGIN SOLUTION" in c.source or "hidden_check" in c.source for c in released.cells)
