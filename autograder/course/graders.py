"""Find an assignment's grader in its own folder, assignments/<name>/grader/ (trusted side).

A grader is a Python package: checks.py holds CHECKS, {graded function: check}, in the order the
judge runs them; dependencies.py, if present, holds DEPENDENCIES, {name: trusted function} for
the stand-ins its checks swap into the student's globals, and may define
check_arguments(name, args, kwargs) and CHILD_SIDE, {name: FastPath} (see FastPath). Nothing
else in the kit names an assignment: a new one is found here from its folder.

Graders are imported as the package `assignments` (one per course root), so a grader may import
another's modules: `from ...gradient_checking.grader import reference`. A check's dependency
names are qualified with its assignment on the way to the judge ("<assignment>:<name>"), so two
assignments may use the same names.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..grading.results import CheckTable
from .manifest import ASSIGNMENTS, course_root

#: The package name of the first course root's assignments; another root gets a suffix.
PACKAGE = "assignments"
#: Most numbers a student's call may hand a trusted function: far above what any exercise sends
#: (the network's 47 parameters and a few examples), far below what could exhaust memory.
MAX_ARGUMENT_NUMBERS = 200_000

_packages: dict[Path, str] = {}


class GraderError(KeyError):
    """An assignment has no usable grader; the message says what is missing and where."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class FastPath:
    """A trusted function's common case, run in the judge's child instead of a round trip to the judge.

    source defines `fast_path(args, kwargs)`, which answers exactly what the judge would send back,
    or returns NotImplemented (the judge then answers, refuses or fails the call as before). The
    child may keep what it is sent, so code that solves an exercise (a reference function, say)
    names it in `after`: it is sent only once that exercise's verdict is final."""
    source: str
    after: frozenset = frozenset()

    @classmethod
    def of(cls, entry) -> "FastPath":
        if isinstance(entry, FastPath):
            return entry
        if isinstance(entry, str):
            return cls(entry)
        source, after = entry
        return cls(str(source), frozenset(after))


@dataclass(frozen=True)
class Grader:
    """One assignment's checks and the trusted functions they may swap in."""
    assignment: str
    folder: Path
    checks: CheckTable
    dependencies: dict
    argument_check: Callable | None = None
    #: {dependency name: FastPath}, run in the judge's child for the common case
    child_side: dict = field(default_factory=dict)

    def resolve(self, name: str) -> Callable:
        try:
            return self.dependencies[name]
        except KeyError:
            raise GraderError(f"unknown dependency {name!r} of assignment {self.assignment!r}") from None


def package(root: Path) -> str:
    """The import name of root's assignments/ folder (created on first use)."""
    root = Path(root).resolve()
    if root not in _packages:
        name = PACKAGE
        if name in sys.modules or name in _packages.values():
            name = f"{PACKAGE}_{hashlib.sha256(str(root).encode()).hexdigest()[:12]}"
        module = types.ModuleType(name, f"The assignments of the course at {root}.")
        module.__path__ = [str(root / ASSIGNMENTS)]
        sys.modules[name] = module
        _packages[root] = name
    return _packages[root]


def module(assignment: str, name: str, root: Path | None = None) -> types.ModuleType:
    """A module of an assignment's grader, e.g. module("gradient_checking", "reference")."""
    root = Path(root or course_root()).resolve()
    if not assignment.isidentifier():
        raise GraderError(f"{assignment!r} is not an assignment name (letters, digits and _; not a digit first)")
    folder = root / ASSIGNMENTS / assignment / "grader"
    if not (folder / f"{name}.py").is_file():
        raise GraderError(f"no {folder / name}.py for assignment {assignment!r}: an assignment's grader is "
                          f"{ASSIGNMENTS}/<name>/grader/ with checks.py (`./kit new` makes one)")
    return importlib.import_module(f"{package(root)}.{assignment}.grader.{name}")


@functools.lru_cache(maxsize=None)
def _load(assignment: str, root: Path) -> Grader:
    checks = getattr(module(assignment, "checks", root), "CHECKS", None)
    if not isinstance(checks, dict) or not all(callable(c) for c in checks.values()):
        raise GraderError(f"{root / ASSIGNMENTS / assignment}/grader/checks.py must define CHECKS, "
                          "a dict {graded function: check(subject, tolerances)}")
    dependencies, argument_check, child_side = {}, None, {}
    if (root / ASSIGNMENTS / assignment / "grader" / "dependencies.py").is_file():
        found = module(assignment, "dependencies", root)
        dependencies = dict(getattr(found, "DEPENDENCIES", {}))
        argument_check = getattr(found, "check_arguments", None)
        child_side = {name: FastPath.of(entry) for name, entry in dict(getattr(found, "CHILD_SIDE", {})).items()
                      if name in dependencies}
    return Grader(assignment, root / ASSIGNMENTS / assignment / "grader", CheckTable(assignment, checks),
                  dependencies, argument_check, child_side)


def load(assignment: str, root: Path | None = None) -> Grader:
    """The grader of assignments/<assignment>/ in the course at root (imported once)."""
    return _load(assignment, course_root() if root is None else Path(root).resolve())


def checks_for(assignment: str) -> CheckTable:
    """The {function name: check} table of an assignment."""
    return load(assignment).checks


def _split(qualified: str) -> tuple[Grader, str]:
    assignment, sep, name = str(qualified).partition(":")
    if not sep:
        raise GraderError(f"dependency {qualified!r} names no assignment (expected <assignment>:<name>)")
    return load(assignment), name


def resolve(qualified: str) -> Callable:
    """The trusted function an "<assignment>:<name>" dependency stands for."""
    grader, name = _split(qualified)
    return grader.resolve(name)


def child_side_source(qualified: str, settled=frozenset()) -> str | None:
    """The source of the child-side fast path of an "<assignment>:<name>" dependency, if it has one
    and every exercise it would give away is among `settled` (their verdicts are final)."""
    grader, name = _split(qualified)
    fast = grader.child_side.get(name)
    return fast.source if fast is not None and fast.after <= frozenset(settled) else None


def _count(value) -> int:
    if isinstance(value, np.ndarray):
        return int(value.size)
    if isinstance(value, (list, tuple)):
        return sum(_count(v) for v in value)
    if isinstance(value, dict):
        return sum(_count(v) for v in value.values())
    return 1


def check_arguments(qualified: str, args: list, kwargs: dict) -> None:
    """Refuse arguments a trusted function should never be asked to work on (ValueError).

    A student's code calls the trusted versions of its dependencies through the judge; this
    keeps such a call from making the trusted side allocate or compute without bound: a cap on
    how many numbers the arguments hold, then the grader's own check_arguments, if it has one."""
    if _count(list(args)) + _count(kwargs) > MAX_ARGUMENT_NUMBERS:
        raise ValueError("the arguments hold too many numbers")
    grader, name = _split(qualified)
    if grader.argument_check is not None:
        grader.argument_check(name, args, kwargs)


def _imported(path: Path, root: Path) -> list[Path]:
    """Grader files that path imports: siblings (`from . import x`) and another assignment's
    (`from ...other.grader import x`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.ImportFrom):
            continue
        parts = (node.module or "").split(".") if node.module else []
        if node.level == 1:
            folder, modules = path.parent, parts[:1] or [alias.name for alias in node.names]
        elif node.level == 3 and len(parts) >= 2 and parts[1] == "grader":
            folder, modules = root / ASSIGNMENTS / parts[0] / "grader", parts[2:3] or [a.name for a in node.names]
            found.append(folder / "__init__.py")
        else:
            continue
        found += [folder / f"{name}.py" for name in modules]
    return [p for p in found if p.is_file()]


def files(assignment: str, root: Path | None = None) -> list[Path]:
    """The files of an assignment's grader and, transitively, of the graders' modules it imports."""
    root = Path(root or course_root()).resolve()
    todo = sorted((root / ASSIGNMENTS / assignment / "grader").glob("*.py"))
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += _imported(path, root)
    return sorted(seen)
