"""An assignment's exercises as the release defines them, and the code each notebook holds for them (parse only).

An exercise is a solution cell of the release notebook (nbgrader metadata `solution`), named by its
grade_id, with the functions it defines and the test cell that grades it. A student's notebook, a
known solution or a public copy without nbgrader metadata is searched by function name across its
code cells (the last definition wins, as when the notebook is run top to bottom); a solution cell
that defines no function is found by its grade_id.
"""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from pathlib import Path

from ..course import manifest as manifests
from ..pipeline.intake.notebook_reader import read_notebook

#: Builtin names are never a student's variable.
BUILTINS = frozenset(dir(builtins))
#: The pseudo-exercise of a notebook's code outside the exercises' functions (its own cells, calls,
#: helpers), the release's subtracted as for any exercise: a fork or re-upload shares it too.
OTHER_CODE = "other code"


class ExerciseError(Exception):
    """The assignment's release notebook is missing or has no solution cells; the message names the file."""


@dataclass(frozen=True)
class Exercise:
    name: str  # the solution cell's grade_id
    functions: tuple[str, ...]  # the functions its release cell defines, in order
    test: str  # the grade_id of the autograded cell after it ("" if none): grades_by_exercise.csv's exercise


@dataclass
class Assignment:
    name: str
    notebook: str
    exercises: list[Exercise]
    release: dict[str, "Code"]  # exercise -> the release's code for it (boilerplate to subtract)
    reference: dict[str, "Code"] = field(default_factory=dict)  # exercise -> the instructor's solution


@dataclass
class Code:
    """What one notebook holds for one exercise: function definitions (or a cell as a function) and source."""
    functions: list[ast.FunctionDef]
    source: str
    globals: frozenset[str]  # the notebook's imports and definitions, and builtins: never a local variable


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def cell_source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def parse_cell(source: str) -> ast.Module | None:
    """The cell parsed as Python, IPython magics and shell lines blanked; None if it does not parse."""
    lines = [("" if line.lstrip().startswith(("%", "!")) else line) for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _bound_at_top(module: ast.Module) -> set[str]:
    names = set()
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def notebook_code(nb, exercises: list[Exercise]) -> dict[str, Code]:
    """{exercise: Code} for the exercises this notebook holds code for."""
    cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    parsed = [(c, parse_cell(cell_source(c))) for c in cells]
    top: set[str] = set(BUILTINS)
    defs: dict[str, tuple[ast.FunctionDef, str]] = {}
    by_id: dict[str, tuple[ast.Module, str]] = {}
    for cell, module in parsed:
        if module is None:
            continue
        top |= _bound_at_top(module)
        source = cell_source(cell)
        for node in module.body:
            if isinstance(node, ast.FunctionDef):
                defs[node.name] = (node, source)
        grade_id = _meta(cell).get("grade_id")
        if isinstance(grade_id, str):
            by_id[grade_id] = (module, source)
    found: dict[str, Code] = {}
    if any(e.name == OTHER_CODE for e in exercises):
        other = _other_code(parsed, {f for e in exercises for f in e.functions}, frozenset(top))
        if other:
            found[OTHER_CODE] = other
    for exercise in exercises:
        if exercise.name == OTHER_CODE:
            continue
        named = [defs[f] for f in exercise.functions if f in defs]
        sources = list(dict.fromkeys(s for _, s in named))
        if len(sources) > 1:  # functions from several cells: one source, so that line numbers hold
            joined = parse_cell("\n".join(sources))
            named = [(n, "") for n in joined.body if isinstance(n, ast.FunctionDef) and n.name in exercise.functions]
        if named:
            found[exercise.name] = Code([f for f, _ in named], "\n".join(sources), frozenset(top))
        elif exercise.name in by_id and not exercise.functions:
            module, source = by_id[exercise.name]
            found[exercise.name] = Code([_as_function(exercise.name, module.body, len(source.splitlines()))], source,
                                        frozenset(top))
    return found


def _as_function(name: str, body: list[ast.stmt], lines: int) -> ast.FunctionDef:
    return ast.FunctionDef(name=name, args=ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[],
                                                         kw_defaults=[], kwarg=None, defaults=[]),
                           body=body or [ast.Pass()], decorator_list=[], returns=None, type_params=[], lineno=1,
                           col_offset=0, end_lineno=max(1, lines), end_col_offset=0)


def _other_code(parsed, exercise_functions: set[str], top: frozenset[str]) -> Code | None:
    """Every parsed code cell, joined, without the exercises' functions: one Code, lines as joined."""
    sources = [cell_source(cell) for cell, module in parsed if module is not None]
    joined = "\n".join(sources)
    module = parse_cell(joined)
    if module is None:
        return None
    body = [n for n in module.body if not (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                                           and n.name in exercise_functions)]
    if not body:
        return None
    return Code([_as_function(OTHER_CODE, body, len(joined.splitlines()))], joined, top)


def exercises_of(release_nb) -> list[Exercise]:
    """The release notebook's solution cells as exercises, each with the test cell that follows it."""
    exercises: list[Exercise] = []
    pending: list[tuple[str, tuple[str, ...]]] = []
    for cell in release_nb.get("cells", []):
        meta = _meta(cell)
        if cell.get("cell_type") != "code" or not isinstance(meta.get("grade_id"), str):
            continue
        if meta.get("solution"):
            module = parse_cell(cell_source(cell))
            functions = tuple(n.name for n in module.body if isinstance(n, ast.FunctionDef)) if module else ()
            exercises.extend(Exercise(name, fns, "") for name, fns in pending)
            pending = [(meta["grade_id"], functions)]
        elif meta.get("grade") and pending:
            exercises.extend(Exercise(name, fns, meta["grade_id"]) for name, fns in pending)
            pending = []
    exercises.extend(Exercise(name, fns, "") for name, fns in pending)
    return exercises + [Exercise(OTHER_CODE, (), "")] if exercises else []


def load(assignment: str, root: Path) -> Assignment:
    """The assignment's exercises and boilerplate from release/, and its reference solution from source/."""
    manifest = manifests.load(assignment, root)
    released = root / "release" / assignment / f"{manifest.notebook}.ipynb"
    if not released.is_file():
        raise ExerciseError(f"{released} is missing; run `./kit release {assignment}` first")
    nb, message = read_notebook(released)
    if nb is None:
        raise ExerciseError(message)
    exercises = exercises_of(nb)
    if not exercises:
        raise ExerciseError(f"{released} has no solution cells (nbgrader metadata 'solution'); nothing to compare")
    result = Assignment(assignment, manifest.notebook, exercises, notebook_code(nb, exercises))
    source = root / "source" / assignment / f"{manifest.notebook}.ipynb"
    if source.is_file():
        reference, _ = read_notebook(source)
        if reference is not None:
            result.reference = notebook_code(reference, exercises)
    return result
