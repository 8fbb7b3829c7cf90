"""Every assignment found in assignments/, held to the same bar, with its totals read from its
source notebook (never typed here):

- release/<name>/ is what `autograder release` generates, with the shared helpers and no
  solutions; the samples are what their recipes build;
- the judge gives the source notebook full marks and the untouched release `missing` everywhere;
- `autograder grade` gives every sample the statuses its recipe records, and those points;
- each planted bug (assignments/<name>/planted_bugs.toml) loses exactly its exercise.

`course_checks` below are the same checks as functions of a course root, so that the test of
`autograder new` runs them on a scaffolded assignment in a course of its own.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest

matplotlib.use("Agg")

from autograder.course import graders, manifest, notebook, samples  # noqa: E402
from autograder.course.release import generate, shared_helpers  # noqa: E402
from autograder.grading.results import exercise_of, run_check  # noqa: E402
from autograder.grading.subject import InProcessSubject  # noqa: E402
from autograder.judge.judge import judge_notebook  # noqa: E402

from support import GENEROUS_LIMITS as LIMITS, ROOT  # noqa: E402
from support.submissions import expected_lost, planted_rows, row_edits  # noqa: E402

ASSIGNMENTS = manifest.available(ROOT)


# ---- the checks, as functions of a course root ----------------------------------------------

def source_of(assignment: str, root: Path) -> nbformat.NotebookNode:
    name = manifest.load(assignment, root).notebook
    return nbformat.read(notebook.source_notebook(assignment, root, name), as_version=4)


def release_of(assignment: str, root: Path) -> nbformat.NotebookNode:
    name = manifest.load(assignment, root).notebook
    return nbformat.read(root / "release" / assignment / f"{name}.ipynb", as_version=4)


def check_release_in_sync(assignment: str, root: Path, tmp: Path) -> None:
    fresh = generate(assignment, root, dest=tmp / assignment)
    committed = root / "release" / assignment
    fresh_files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    committed_files = sorted(p.relative_to(committed) for p in committed.rglob("*")
                             if p.is_file() and "__pycache__" not in p.parts)
    assert fresh_files == committed_files, "run ./kit release and commit release/"
    for rel in fresh_files:
        assert (fresh / rel).read_bytes() == (committed / rel).read_bytes(), \
            f"release/{assignment}/{rel} is out of date: run ./kit release {assignment} and commit it"
    for helper in shared_helpers():
        for folder in ("source", "release"):
            copy = root / folder / assignment / helper.name
            assert copy.read_bytes() == helper.read_bytes(), f"{copy} differs from {helper}: ./kit release"
    text = "".join(c.source for c in release_of(assignment, root).cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "hidden_check" not in text
    assert text.count("raise NotImplementedError()") == len(notebook.solution_functions(source_of(assignment, root)))


def check_samples_match_recipes(assignment: str, root: Path) -> None:
    built = samples.build(assignment, root)
    folder = root / "samples" / assignment
    assert built, f"assignments/{assignment}/samples.toml has no samples"
    assert sorted(built) == sorted(p.name for p in folder.glob("*.ipynb")), "run ./kit release"
    for name, text in built.items():
        assert (folder / name).read_text(encoding="utf-8") == text, f"samples/{assignment}/{name}: ./kit release"


def check_contract(assignment: str, root: Path) -> None:
    """Each solution cell's function has a check and a test cell test_<function> with points."""
    source = source_of(assignment, root)
    functions = notebook.solution_functions(source)
    cells = notebook.exercises(source)
    assert functions == list(graders.load(assignment, root).checks)
    assert [c.exercise for c in cells] == [exercise_of(f) for f in functions]
    assert all(c.points > 0 for c in cells)
    for cell in source.cells:
        if notebook.is_test_cell(cell):
            function = cell.metadata["nbgrader"]["grade_id"][len("test_"):]
            assert f'hidden_check("{function}", globals(), assignment="{assignment}")' in cell.source


def check_judge_source_and_release(assignment: str, root: Path) -> None:
    tolerances = manifest.tolerances_for(assignment, root)
    helpers = root / "source" / assignment
    good = judge_notebook(source_of(assignment, root), assignment, helpers, LIMITS, tolerances)
    assert {r.function: r.status for r in good.results} == {f: "passed" for f in graders.load(assignment, root).checks}, \
        {r.function: r.message for r in good.results if not r.passed}
    empty = judge_notebook(release_of(assignment, root), assignment, root / "release" / assignment, LIMITS, tolerances)
    assert {r.status for r in empty.results} == {"missing"}


def check_sample_statuses(assignment: str, root: Path, run) -> None:
    points = notebook.points(source_of(assignment, root))
    total = sum(points.values())
    recipes = {s.name: s for s in samples.recipes(assignment, root)}
    assert {r.student_id for r in run.rows} == set(recipes)
    for name, sample in recipes.items():
        rows = {r.exercise: r for r in run.rows if r.student_id == name}
        assert sorted(rows) == sorted(points), name
        for exercise, row in rows.items():
            assert row.status == sample.status(exercise), (name, exercise, row.message)
            assert row.max_score == points[exercise]
            assert row.score == (points[exercise] if row.status == "passed" else 0.0), (name, exercise)
        lost = sum(points[e] for e in points if sample.status(e) != "passed")
        assert sum(r.score for r in rows.values()) == total - lost, name


# ---- planted bugs, judged in this process (fast) ---------------------------------------------

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


def without_magics(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))


_NAMESPACES: dict = {}


def notebook_namespace(assignment: str, root: Path) -> dict:
    """Globals after running the source notebook's code cells, test cells left out (once per
    assignment). A cell that raises is skipped, as nbgrader runs on past errors."""
    key = (assignment, root)
    if key not in _NAMESPACES:
        import matplotlib.pyplot as plt
        namespace = {"__name__": "__main__"}
        with inside(root / "source" / assignment), np.errstate(all="ignore"):
            for index, cell in enumerate(source_of(assignment, root).cells):
                if cell.cell_type != "code" or notebook.is_test_cell(cell):
                    continue
                with contextlib.redirect_stdout(io.StringIO()):
                    try:
                        exec(compile(without_magics(cell.source), f"<cell {index}>", "exec"), namespace)
                    except Exception:
                        pass
        plt.close("all")
        _NAMESPACES[key] = namespace
    return _NAMESPACES[key]


def solution_source(nb, function: str) -> str:
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
                and c.metadata["nbgrader"].get("grade_id") == function)


def apply_edits(edits: list[dict], source, namespace: dict) -> None:
    """Run each edited solution cell of `source` (its `old` found once and made `new`, or a whole
    `source` cell) into namespace, in order."""
    for edit in edits:
        cell = edit.get("source")
        if cell is None:
            original = solution_source(source, edit["function"])
            assert original.count(edit["old"]) == 1, f"{edit['old']!r} must occur once in {edit['function']}"
            cell = original.replace(edit["old"], edit["new"])
        exec(compile(without_magics(cell), f"<{edit['function']}>", "exec"), namespace)


def check_planted_bug(assignment: str, root: Path, row: dict) -> None:
    """The row's edited solution cells run into the notebook's globals; every hidden check runs."""
    namespace, source = notebook_namespace(assignment, root), source_of(assignment, root)
    grader, tolerances = graders.load(assignment, root), manifest.tolerances_for(assignment, root)
    saved = dict(namespace)
    try:
        with inside(root / "source" / assignment), contextlib.redirect_stdout(io.StringIO()):
            apply_edits(row_edits(row), source, namespace)
            subject = InProcessSubject(namespace, graders.resolve)
            results = {f: run_check(f, subject, tolerances, grader.checks) for f in grader.checks}
    finally:
        namespace.clear()
        namespace.update(saved)
    verdicts = {f: "lost" if r.status in ("failed", "error") else r.status for f, r in results.items()}
    expected = {f: "lost" if f in expected_lost(row) else "passed" for f in grader.checks}
    assert verdicts == expected, f"{row['why']}\n" + "\n".join(f"{f}: {r.message}" for f, r in results.items())
    for function in expected_lost(row):
        if "status" in row:
            assert results[function].status == row["status"], results[function].message
        if "hint" in row:
            assert row["hint"] in results[function].message, results[function].message


def check_planted_table(assignment: str, root: Path) -> None:
    rows = planted_rows(assignment, root)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), "row ids are the student ids: they must be unique"
    lost = [expected_lost(row) for row in rows]
    functions = set(graders.load(assignment, root).checks)
    assert all(len(l) <= 1 and l <= functions for l in lost)
    assert set().union(*lost) == functions, "every exercise needs at least one planted bug"
    assert sum(not l for l in lost) >= 1, "the instructor's solution, at least, with full marks"
    if root == ROOT:  # this repository's tables say the hint each bug gets (a scaffold's starts without)
        assert all("hint" in row for row, l in zip(rows, lost) if l), "a row with a bug needs its hint"


# ---- the tests: every assignment of this repository -------------------------------------------

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_in_sync_with_source_and_shared_helpers(assignment, tmp_path):
    check_release_in_sync(assignment, ROOT, tmp_path)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_samples_are_what_their_recipes_build(assignment):
    check_samples_match_recipes(assignment, ROOT)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_exercise_is_a_solution_cell_a_check_and_a_test_cell(assignment):
    check_contract(assignment, ROOT)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_judge_gives_the_source_full_marks_and_the_release_nothing(assignment):
    check_judge_source_and_release(assignment, ROOT)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_samples_get_their_recorded_statuses(assignment, graded_samples):
    check_sample_statuses(assignment, ROOT, graded_samples(assignment))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_planted_bug_table_covers_every_exercise(assignment):
    check_planted_table(assignment, ROOT)


PLANTED = [pytest.param(a, row, id=f"{a}-{row['id']}",
                        marks=pytest.mark.xfail(reason=row["xfail_checks"]) if "xfail_checks" in row else ())
           for a in ASSIGNMENTS for row in planted_rows(a)]


@pytest.mark.parametrize("assignment, row", PLANTED)
def test_a_planted_bug_loses_exactly_its_exercise(assignment, row):
    check_planted_bug(assignment, ROOT, row)
