"""Make student submissions from the instructor notebook and grade them with plain nbgrader.

Tests build a submission by editing the solution cells of the source notebook (plant a bug,
or swap in another correct implementation), write a class of them in nbgrader's layout, and
read back the grades nbgrader gives, exactly as an instructor would get them:

    nb = plant(load_source(), "backward_propagation_n", "np.dot(dZ2, A1.T)", "np.dot(dZ2, A1.T) * 2")
    course = copy_course(tmp_path)         # a course root of its own: plain nbgrader grades it
    write_submissions(course, {"alice": nb})
    grades = grade_with_nbgrader(course)   # {"alice": {"test_forward_propagation": (1.0, 1.0), ...}}
"""
from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from autograder.nbgrader_env import with_python_bin

from support import ROOT


def load_source(assignment: str = "gradient_checking") -> nbformat.NotebookNode:
    """The instructor notebook of an assignment (solutions and hidden tests included)."""
    return nbformat.read(ROOT / "source" / assignment / f"{assignment}.ipynb", as_version=4)


def solution_cell(nb: nbformat.NotebookNode, function: str) -> nbformat.NotebookNode:
    """The solution cell whose nbgrader grade_id is `function`."""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") == function:
            return cell
    raise KeyError(f"no solution cell with grade_id {function!r}")


def plant(nb: nbformat.NotebookNode, function: str, old: str, new: str) -> nbformat.NotebookNode:
    """A copy of nb with `old` replaced by `new` in function's solution cell.

    Raises ValueError unless `old` occurs exactly once, so an edit can never silently do nothing.
    """
    nb = copy.deepcopy(nb)
    cell = solution_cell(nb, function)
    count = cell.source.count(old)
    if count != 1:
        raise ValueError(f"{old!r} occurs {count} times in the {function} cell; it must occur once")
    cell.source = cell.source.replace(old, new)
    return nb


def replace_solution(nb: nbformat.NotebookNode, function: str, new_source: str) -> nbformat.NotebookNode:
    """A copy of nb whose solution cell for `function` is new_source (the whole cell)."""
    nb = copy.deepcopy(nb)
    solution_cell(nb, function).source = new_source
    return nb


def planted_rows(assignment: str, root: Path = ROOT) -> list[dict]:
    """The rows of assignments/<assignment>/planted_bugs.toml: edits and the exercise they must lose."""
    path = root / "assignments" / assignment / "planted_bugs.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))["submission"]


def expected_lost(row: dict) -> set:
    """The functions whose exercise a planted-bug row must lose (none for a correct variant)."""
    lost = row["expect_lost"]
    return {lost} if isinstance(lost, str) else set(lost)


def row_edits(row: dict) -> list[dict]:
    """A row's edits: its [[submission.edit]] list, then its own function/old/new if it has one."""
    return row.get("edit", []) + ([row] if "function" in row else [])


def build(row: dict, assignment: str = "gradient_checking") -> nbformat.NotebookNode:
    """The instructor notebook with the row's edits applied."""
    nb = load_source(assignment)
    for edit in row_edits(row):
        if "source" in edit:
            nb = replace_solution(nb, edit["function"], edit["source"])
        else:
            nb = plant(nb, edit["function"], edit["old"], edit["new"])
    return nb


def copy_course(destination: Path, assignment: str = "gradient_checking") -> Path:
    """Make destination a course root: the nbgrader config, the assignments and the assignment's source."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "nbgrader_config.py", destination)
    skip = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    shutil.copytree(ROOT / "assignments", destination / "assignments", ignore=skip)
    shutil.copytree(ROOT / "source" / assignment, destination / "source" / assignment, ignore=skip)
    return destination


def write_submissions(course_root: Path, notebooks: dict, assignment: str = "gradient_checking") -> None:
    """Write submitted/<student>/<assignment>/<assignment>.ipynb for each {student_id: notebook}."""
    for student, nb in notebooks.items():
        folder = Path(course_root) / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")


def nbgrader(course_root: Path, *args: str) -> None:
    """Run `python -m nbgrader ARGS` in course_root with this test's python; raise with its log."""
    run = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_root, env=with_python_bin(),
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")


def grade_with_nbgrader(course_root: Path, assignment: str = "gradient_checking") -> dict:
    """Plain `nbgrader generate_assignment` + `autograde` of a course; grades from its gradebook.

    Returns {student_id: {grade_id: (score, max_score)}} for every graded cell.
    """
    from nbgrader.api import Gradebook

    course_root = Path(course_root)
    nbgrader(course_root, "generate_assignment", assignment, "--force")
    nbgrader(course_root, "autograde", assignment, "--force")
    grades: dict = {}
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gb:
        for submission in gb.assignment_submissions(assignment):
            for notebook in submission.notebooks:
                grades.setdefault(submission.student.id, {}).update(
                    {g.name: (g.score, g.max_score) for g in notebook.grades})
    return grades
