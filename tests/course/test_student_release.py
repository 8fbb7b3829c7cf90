"""A release practises offline on its own: its environment file lists what it imports and nothing of
the grader; an untouched exercise fails its visible test with one short line naming it; a failing
visible test shows `expected` and `got` the same way.
"""
from __future__ import annotations

import ast
import importlib
import sys

import nbformat
import numpy as np
import pytest

from autograder.course import manifest, notebook
from autograder.course.release import STUDENT_REQUIREMENTS, STUDENT_REQUIREMENTS_FILE

from support import ROOT
from test_assignments import inside

ASSIGNMENTS = manifest.available(ROOT)
#: The import names each student requirement provides (jupyter brings IPython and its kernel).
PROVIDES = {"numpy": {"numpy"}, "matplotlib": {"matplotlib", "mpl_toolkits"},
            "jupyter": {"IPython", "ipykernel", "ipywidgets", "notebook", "jupyter", "nbformat"}}


def requirement_names(folder) -> list[str]:
    lines = (folder / STUDENT_REQUIREMENTS_FILE).read_text(encoding="utf-8").splitlines()
    return [line.split(">")[0].split("=")[0].split("<")[0].strip() for line in lines
            if line.strip() and not line.startswith("#")]


def imported_modules(folder) -> set[str]:
    """The top-level names every code cell and helper module of a release folder imports."""
    sources = [path.read_text(encoding="utf-8") for path in folder.glob("*.py")]
    for path in folder.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                sources.append("\n".join(line for line in cell.source.splitlines()
                                         if not line.lstrip().startswith(("%", "!"))))
    names = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_release_imports_only_the_stdlib_its_own_modules_and_its_requirements(assignment):
    folder = ROOT / "release" / assignment
    requirements = requirement_names(folder)
    assert requirements == [r.split(">")[0] for r in STUDENT_REQUIREMENTS]
    assert not {"nbgrader", "autograder", "pytest"} & set(requirements)
    allowed = set(sys.stdlib_module_names) | {p.stem for p in folder.glob("*.py")}
    allowed |= set().union(*(PROVIDES[name] for name in requirements))
    outside = imported_modules(folder) - allowed
    assert not outside, f"release/{assignment} imports {sorted(outside)}, which {STUDENT_REQUIREMENTS_FILE} lacks"


def _visible_calls(assignment: str):
    """(the visible test's call, its module, the graded function) for each test cell of the release."""
    folder = ROOT / "release" / assignment
    nb = nbformat.read(folder / f"{manifest.load(assignment, ROOT).notebook}.ipynb", as_version=4)
    for cell in nb.cells:
        if notebook.is_test_cell(cell):
            call = next(line for line in cell.source.splitlines() if line.strip() and not line.startswith("#"))
            yield call, call.split(".", 1)[0], cell.metadata["nbgrader"]["grade_id"][len("test_"):]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_an_untouched_exercise_fails_its_visible_test_with_one_line_naming_it(assignment):
    """Each test cell's call, with every graded function as handed out (raising
    NotImplementedError): one short line, naming the cell's function or the ones it needs."""
    calls = list(_visible_calls(assignment))
    untouched = {}
    for _, _, function in calls:
        exec(f"def {function}(*args, **kwargs):\n    raise NotImplementedError()", untouched)
    try:
        with inside(ROOT / "release" / assignment):
            for call, module, function in calls:
                namespace = {**untouched, module: importlib.import_module(module)}
                with pytest.raises(AssertionError) as failure:
                    exec(call, namespace)
                rendered = failure.value._render_traceback_()
                assert len(rendered) == 1, rendered
                assert f"{function}: not implemented yet" in rendered[0] or "did not run" in rendered[0], rendered
    finally:
        for name in {m for _, m, _ in calls} | {"visible_test_helpers", "gc_utils", "lab_utils"}:
            sys.modules.pop(name, None)


def test_a_failure_shows_expected_and_got_alike():
    with inside(ROOT / "release" / ASSIGNMENTS[0]):
        helpers = importlib.import_module("visible_test_helpers")
        got = np.arange(6.0).reshape(2, 3) / 3
        with pytest.raises(AssertionError) as failure:
            helpers.fail("wrong.", got.tolist(), got, "here")
        sys.modules.pop("visible_test_helpers", None)
    lines = str(failure.value).splitlines()
    assert lines[1].split(":", 1)[1].strip() == lines[2].split(":", 1)[1].strip() == \
        "[[0, 0.3333333333, 0.6666666667], [1, 1.333333333, 1.666666667]]"
