"""The kit's one way to program/, the program that runs outside it (trusted side).

program/ holds the parts of the program the warm zygote runs, and with it every child it forks
(program/README.md says why they are kept apart). The kit never imports them: `program_source`
joins parts into one program's text, checked, and `load_part` gives the trusted side its own copy
of a part it needs as well (codec.py to read the child's replies, confine.py to mount and detach
a scratch tmpfs), made from the same file.
"""
from __future__ import annotations

import ast
import sys
import types
from pathlib import Path

#: The folder of the program's parts.
PROGRAM = Path(__file__).parent / "program"
#: The zygote's program, in this order: the wire format, the confinement, the child's loop (each
#: uses names only the ones before it, or itself, define), then the fork loop, which starts it all.
ZYGOTE_PARTS = ("codec", "confine", "child", "zygote")
#: The kit's package: no part may import it (it is neither on the path nor visible where they run).
KIT = __package__.split(".")[0]


class PartError(Exception):
    """A part that cannot go into the program: it imports the kit, or takes another part's name."""


def _kit_imports(tree: ast.AST) -> list[str]:
    """What the part imports from the kit: `autograder...` or anything relative."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == KIT):
            found.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == KIT]
    return found


def _defined(body: list) -> list[str]:
    """The names a part defines at module level (functions, classes, assignments; inside if, try,
    for and with blocks too, not inside functions or classes)."""
    names = []
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        for field in ("body", "orelse", "finalbody", "handlers"):
            names += _defined(getattr(node, field, []))
    return [name for name in names if not name.startswith("__")]


def _read_part(folder: Path, name: str) -> tuple[str, ast.Module]:
    """A part's source and syntax tree; PartError if it imports the kit."""
    path = folder / f"{name}.py"
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, str(path))
    imports = _kit_imports(tree)
    if imports:
        raise PartError(f"{path} imports {', '.join(imports)}: the program runs without the kit")
    return source, tree


def program_source(parts=ZYGOTE_PARTS, folder: Path = PROGRAM) -> str:
    """The one program made of `parts` of `folder`, in that order, each headed by its file name.

    Refused (PartError) if a part imports the kit, or defines a name another part defines: in one
    program the later definition would silently replace the earlier (a codec helper once lost to
    confine's own `_check` that way)."""
    owners: dict[str, str] = {}
    texts = []
    for name in parts:
        source, tree = _read_part(folder, name)
        for defined in _defined(tree.body):
            if owners.setdefault(defined, name) != name:
                raise PartError(f"{defined} is defined in {owners[defined]}.py and in {name}.py")
        texts.append(f"# ---- {folder.name}/{name}.py ----\n{source}")
    return "\n".join(texts)


def load_part(name: str) -> types.ModuleType:
    """A part the trusted side needs as well, as a module of this process (one per process), made
    from the part's own file: the same text the program runs, never a copy of it."""
    qualified = f"{__package__}.{PROGRAM.name}.{name}"
    module = sys.modules.get(qualified)
    if module is None:
        source, tree = _read_part(PROGRAM, name)
        module = types.ModuleType(qualified, ast.get_docstring(tree))
        module.__file__ = str(PROGRAM / f"{name}.py")
        sys.modules[qualified] = module
        try:
            exec(compile(tree, module.__file__, "exec"), module.__dict__)
        except BaseException:
            del sys.modules[qualified]
            raise
    return module
