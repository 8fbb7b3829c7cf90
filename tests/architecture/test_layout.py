"""The engine's layout (docs/architecture.md): rooms in one order, no import cycles, no reaching
into another module's private names (from the kit or from its tests), small folders, short functions.

Parses autograder/ and tests/ with `ast` (nothing is imported); each test lists every violation at
once, as file:line, so one run shows all there is to fix. Imports inside functions count like the others.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from support import ROOT

PACKAGE = ROOT / "autograder"

#: The rooms, lowest first. A module may import from its own room and from rooms of an earlier
#: line; rooms on one line are peers (they may import each other, never in a cycle of modules).
#: A room is a pipeline/ sub-package, another package of autograder/, or a top-level module.
LAYERS: list[set[str]] = [
    {"autograder", "untrusted_text", "process_exit", "import_costs", "nbgrader_env",  # no kit imports
     "student"},  # the student's side: helpers every release carries
    {"grading", "course"},  # the API graders use, and the course (manifests, graders) it serves
    {"judge"},  # decides verdicts where the submission cannot reach them
    {"pipeline.intake", "pipeline.gradebook", "grading_output", "pipeline.feedback", "pipeline.steps"},
    {"pipeline.workers"},  # grade one student at a time, with the steps above
    {"pipeline.run"},  # a grading run, start to finish
    {"similarity", "gradescope", "formgrader"},  # the instructor's other tools
    {"cli", "__main__"},  # the `autograder` command wires it all
]

#: Folders the rooms of the pipeline: each one's __init__.py is a one-line docstring.
ROOM_FOLDERS = ["pipeline", "pipeline/intake", "pipeline/steps", "pipeline/feedback", "pipeline/gradebook",
                "pipeline/workers", "pipeline/run"]

MAX_MODULES_PER_FOLDER = 15
MAX_FUNCTION_LINES = 60


@dataclass
class Module:
    name: str  # autograder.pipeline.intake.lms
    path: Path
    is_package: bool
    tree: ast.Module = field(repr=False)

    @property
    def where(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def package(self) -> list[str]:
        parts = self.name.split(".")
        return parts if self.is_package else parts[:-1]


def _modules() -> dict[str, Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        found[name] = Module(name, path, is_package, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


MODULES = _modules()


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the kit module imported (or whose names are)
    names: tuple[str, ...]  # names taken from target by `from target import ...`
    line: int


def _imports(module: Module) -> list[Import]:
    """Every import of a kit module anywhere in module (top level, functions, classes)."""
    found = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.package[: len(module.package) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            if origin not in MODULES:
                continue
            names = []
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                if submodule in MODULES:  # `from package import module`
                    found.append(Import(module.name, submodule, (), node.lineno))
                else:
                    names.append(alias.name)
            if names:
                found.append(Import(module.name, origin, tuple(names), node.lineno))
        elif isinstance(node, ast.Import):
            found += [Import(module.name, alias.name, (), node.lineno) for alias in node.names
                      if alias.name in MODULES]
    return found


IMPORTS = [i for module in MODULES.values() for i in _imports(module)]


def _where(module_name: str, line: int) -> str:
    return f"{MODULES[module_name].where}:{line}"


def room_of(module_name: str) -> str:
    parts = module_name.split(".")
    if len(parts) >= 3 and parts[1] == "pipeline":
        return ".".join(parts[1:3])
    return parts[1] if len(parts) > 1 else parts[0]


def _layer_of() -> dict[str, int]:
    return {room: n for n, rooms in enumerate(LAYERS) for room in rooms}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node: str) -> None:  # Tarjan's algorithm; the kit's graph is shallow enough to recurse
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges[node]:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _report(violations: list[str], rule: str) -> str:
    return f"{len(violations)} {rule}:\n  " + "\n  ".join(violations)


def test_no_import_cycles_between_modules():
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        edges[imp.source].add(imp.target)
        edges[imp.target]
    violations = []
    for component in _cycles(edges):
        members = set(component)
        lines = [f"{_where(i.source, i.line)} imports {i.target}" for i in IMPORTS
                 if i.source in members and i.target in members]
        violations.append("cycle " + " <-> ".join(component) + ":\n    " + "\n    ".join(sorted(set(lines))))
    assert not violations, _report(violations, "import cycles (move the shared piece where both may import it)")


def test_every_room_has_a_place_in_the_order():
    rooms = {room_of(name) for name in MODULES} - {"pipeline"}
    unplaced = sorted(rooms - set(_layer_of()))
    assert not unplaced, f"rooms missing from LAYERS in tests/architecture/test_layout.py: {unplaced}"
    assert sum(len(rooms) for rooms in LAYERS) == len(_layer_of()), "a room is on two lines of LAYERS"


def test_rooms_import_only_their_own_and_lower_rooms():
    layer = _layer_of()
    violations = []
    for imp in IMPORTS:
        source, target = room_of(imp.source), room_of(imp.target)
        if source != target and source in layer and target in layer and layer[target] > layer[source]:
            violations.append(f"{_where(imp.source, imp.line)}: {source} imports {imp.target} "
                              f"(room {target} is above it)")
    assert not violations, _report(violations, "upward imports")


def test_no_module_takes_another_modules_private_names():
    violations = []
    for imp in IMPORTS:
        for name in imp.names:
            if _private(name):
                violations.append(f"{_where(imp.source, imp.line)}: from {imp.target} import {name}")
    for module in MODULES.values():
        aliases = _module_aliases(module)
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                target = _dotted_module(node.value, aliases)
                if target:
                    violations.append(f"{module.where}:{node.lineno}: {target}.{node.attr}")
    assert not violations, _report(violations, "private names of another module (make them public, or "
                                               "move the code that needs them)")


TESTS = ROOT / "tests"

#: Private names of kit modules a test may still reach, "tests/path.py: module._name" -> why. Empty:
#: each one had a public seam made. (Student code inside a test's strings is not looked at: an
#: attack that calls the child's own `_send` from inside the sandbox is what it simulates.)
TESTS_REACHING_PRIVATE_NAMES: dict[str, str] = {}


def _plain_import_aliases(node: ast.Import) -> dict[str, str]:
    """The names `import autograder.x as name` and `import autograder...` bind to kit modules."""
    aliases = {}
    for alias in node.names:
        if alias.asname and alias.name in MODULES:
            aliases[alias.asname] = alias.name
        elif alias.name.split(".")[0] == "autograder":
            aliases["autograder"] = "autograder"
    return aliases


def _test_aliases(tree: ast.Module) -> dict[str, str]:
    """The names a test binds to kit modules: imports, and `name = load_part("part")` (judge/assembly.py)."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "autograder":
            for alias in node.names:
                if f"{node.module}.{alias.name}" in MODULES:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            aliases.update(_plain_import_aliases(node))
        elif (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
              and isinstance(node.value.func, ast.Name) and node.value.func.id == "load_part"
              and node.value.args and isinstance(node.value.args[0], ast.Constant)):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    aliases[target.id] = f"autograder.judge.program.{node.value.args[0].value}"
    return aliases


def _reached_private_names(path: Path) -> list[tuple[int, str]]:
    """(line, "module._name") for each private name of a kit module a test file takes or reaches:
    `from kit import _y`, `module._y`, and `setattr/getattr/delattr(module, "_y", ...)` (monkeypatch too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    aliases, found = _test_aliases(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in MODULES:
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            target = _dotted_module(node.value, aliases)
            if target:
                found.append((node.lineno, f"{target}.{node.attr}"))
        elif isinstance(node, ast.Call) and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            name, target = node.args[1].value, _dotted_module(node.args[0], aliases)
            if called in ("setattr", "getattr", "delattr") and target and isinstance(name, str) and _private(name):
                found.append((node.lineno, f"{target}.{name}"))
    return found


def test_no_test_reaches_a_kit_modules_private_names():
    """Tests use what the kit offers (a property, a public function, a documented setting): a test
    that reads a module's private state pins down what is free to change."""
    violations, excused = [], set()
    for path in sorted(TESTS.rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        for line, name in _reached_private_names(path):
            key = f"{where}: {name.removeprefix('autograder.')}"
            if key in TESTS_REACHING_PRIVATE_NAMES:
                excused.add(key)
            else:
                violations.append(f"{where}:{line}: {name}")
    assert not violations, _report(violations, "private names of kit modules in tests (give the module a public "
                                               "seam, or list the case in TESTS_REACHING_PRIVATE_NAMES with why)")
    assert excused == set(TESTS_REACHING_PRIVATE_NAMES), "exceptions no longer needed: " + \
        ", ".join(sorted(set(TESTS_REACHING_PRIVATE_NAMES) - excused))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_aliases(module: Module) -> dict[str, str]:
    """The local names bound to kit modules by module's imports: {name: module}."""
    aliases = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            aliases.update(_plain_import_aliases(node))
    for imp in (i for i in IMPORTS if i.source == module.name and not i.names):
        aliases[imp.target.rsplit(".", 1)[-1]] = imp.target
    for node in ast.walk(module.tree):  # `from package import module as name`
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.asname:
                    for imp in IMPORTS:
                        if (imp.source == module.name and imp.line == node.lineno
                                and imp.target.endswith("." + alias.name)):
                            aliases[alias.asname] = imp.target
    return aliases


def _dotted_module(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The kit module an expression names (`store`, `autograder.judge.judge`), else None."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted_module(node.value, aliases)
        if base and f"{base}.{node.attr}" in MODULES:
            return f"{base}.{node.attr}"
    return None


def test_no_folder_holds_more_than_15_modules():
    counts: dict[Path, int] = defaultdict(int)
    for module in MODULES.values():
        if not module.is_package:
            counts[module.path.parent] += 1
    violations = [f"{folder.relative_to(ROOT).as_posix()}/: {n} modules" for folder, n in sorted(counts.items())
                  if n > MAX_MODULES_PER_FOLDER]
    assert not violations, _report(violations, f"folders over {MAX_MODULES_PER_FOLDER} modules (split "
                                               "them into rooms by what their parts do)")


def _functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, node) of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def test_no_function_is_longer_than_60_lines():
    violations = []
    for module in MODULES.values():
        for name, node in _functions(module.tree):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                violations.append(f"{module.where}:{node.lineno}: {name} is {length} lines")
    assert not violations, _report(violations, f"functions over {MAX_FUNCTION_LINES} lines (split them "
                                               "into well-named helpers)")


def test_each_room_says_what_it_does_in_one_line():
    violations = []
    for folder in ROOM_FOLDERS:
        init = PACKAGE / folder / "__init__.py"
        if not init.is_file():
            violations.append(f"autograder/{folder}/__init__.py: missing")
            continue
        tree = ast.parse(init.read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree, clean=False)
        if not doc or "\n" in doc.strip() or len(tree.body) != 1:
            violations.append(f"autograder/{folder}/__init__.py:1: not a one-line docstring alone")
        elif "trusted" not in doc:
            violations.append(f"autograder/{folder}/__init__.py:1: does not say its side of the trust boundary")
    assert not violations, _report(violations, "rooms without their one line")
