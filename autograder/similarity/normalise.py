"""A student's function as a bag of normalised fragments, each with the lines it came from (parse only).

What copying changes cheaply is normalised away: comments and layout (ast drops them), docstrings,
added prints, names of local variables (all become `v`), string literals outside subscripts and
dict keys, `1` vs `1.0`, operand order of + and *, `x += e` vs `x = x + e`, and the loop's form
(`for i in range(n)`, `while i < n` and a comprehension all give the fragment `loop(n)`).
Statement order does not matter because the fragments are a set. Each assignment and return also
gives its value with the local variables it reads replaced by their definitions (data flow), so
splitting or merging intermediate variables changes little.
"""
from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass

#: Sub-expressions smaller than this many nodes (`v`, `x`, `v[0]`) are too small to be evidence.
MIN_NODES = 4
#: A value with its variables inlined stops growing here (a long chain becomes `v`); keeps fragments short.
MAX_INLINED_NODES = 80
#: Nodes of one function that are looked at; a larger function (hostile or generated) is cut off here.
MAX_NODES = 20_000

COMMUTATIVE = (ast.Add, ast.Mult, ast.BitAnd, ast.BitOr, ast.BitXor)


@dataclass(frozen=True)
class Fragment:
    """One normalised piece of a function: its text (what is compared) and the source lines it covers."""
    text: str
    first_line: int
    last_line: int


def fragment_key(text: str) -> int:
    """A stable 64-bit key for a fragment's text (the index holds keys, not texts)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


@dataclass
class _Names:
    """What one walk over a function learns about its names."""
    stored: dict[str, int]  # name -> times bound
    varying: set[str]  # bound in a loop, or augmented
    read: set[str]
    called: set[str]
    params: set[str]


def _names(func: ast.FunctionDef) -> _Names:
    params = {a.arg for a in (*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs)}
    params |= {a.arg for a in (func.args.vararg, func.args.kwarg) if a}
    names = _Names({}, set(), set(), set(), params)
    stack = [(func, False)]
    while stack:
        node, in_loop = stack.pop()
        loop = in_loop or isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.comprehension))
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                names.read.add(node.id)
            else:
                names.stored[node.id] = names.stored.get(node.id, 0) + 1
                if in_loop or names.stored[node.id] > 1:
                    names.varying.add(node.id)
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            names.called.add(node.func.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            names.varying.add(node.target.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.stored[node.name] = names.stored.get(node.name, 0) + 1
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not func:
            names.stored[node.name] = names.stored.get(node.name, 0) + 1
        stack.extend((child, loop) for child in ast.iter_child_nodes(node))
    return names


def local_names(func: ast.FunctionDef, known: frozenset[str] = frozenset(), names: _Names | None = None) -> set[str]:
    """Names the function binds itself (assignment, loop and comprehension targets, with/except names),
    and names it reads that are neither its parameters nor in `known` (the notebook's imports and
    definitions, and builtins): the release's skeleton reads variables the student is to define.
    A name it calls is a function from elsewhere (a star import), not a variable."""
    names = names or _names(func)
    bound = set(names.stored)
    if known:
        bound |= names.read - known - names.called
    return bound - names.params


def _is_print(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "print")


def _is_docstring_or_noop(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)))


class _Writer:
    """Writes expressions in the normal form, collecting every large enough sub-expression as a fragment."""

    def __init__(self, local: set[str], varying: set[str], out: list[Fragment], span: tuple[int, int]):
        self.local, self.varying, self.out, self.span, self.nodes = local, varying, out, span, 0
        self.env: dict[str, tuple[str, int]] = {}  # local name -> (its inlined definition, node count)

    def emit(self, text: str) -> None:
        self.out.append(Fragment(text, *self.span))

    def expr(self, node, inline: bool = False, keep_str: bool = False) -> tuple[str, int]:
        """(text, size) of an expression; with inline, local names are replaced by their definitions."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            return "?", 1
        text, size = self._expr(node, inline, keep_str)
        if size >= MIN_NODES:
            self.emit(text)
        return text, size

    def _expr(self, node, inline: bool, keep_str: bool) -> tuple[str, int]:
        e = lambda n, k=False: self.expr(n, inline, k)  # noqa: E731
        for write in (self._atom, self._operation, self._access, self._display, self._other):
            written = write(node, e, inline, keep_str)
            if written is not None:
                return written
        return type(node).__name__, 1

    def _atom(self, node, e, inline: bool, keep_str: bool) -> tuple[str, int] | None:
        """A name (a local one as v, or its definition when inlining) or a constant."""
        if isinstance(node, ast.Name):
            if node.id in self.local:
                if inline and node.id in self.env:
                    return self.env[node.id]
                return "v", 1
            return node.id, 1
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or value is None:
                return repr(value), 1
            if isinstance(value, (int, float)):
                return (repr(float(value)) if abs(value) < 1e300 else "huge"), 1
            if isinstance(value, str):
                return (repr(value) if keep_str else "S"), 1
            return type(value).__name__, 1
        return None

    @staticmethod
    def _operation(node, e, inline: bool, keep_str: bool) -> tuple[str, int] | None:
        """Arithmetic, logic and comparisons; a commutative operation's operands in one order."""
        if isinstance(node, ast.BinOp):
            (a, na), (b, nb) = e(node.left), e(node.right)
            if isinstance(node.op, COMMUTATIVE) and b < a:
                a, b = b, a
            return f"({a} {type(node.op).__name__} {b})", na + nb + 1
        if isinstance(node, ast.UnaryOp):
            a, n = e(node.operand)
            return f"{type(node.op).__name__}({a})", n + 1
        if isinstance(node, ast.BoolOp):
            parts = sorted(e(v) for v in node.values)
            return f"{type(node.op).__name__}({', '.join(p for p, _ in parts)})", 1 + sum(n for _, n in parts)
        if isinstance(node, ast.Compare):
            parts = [e(node.left)] + [e(c) for c in node.comparators]
            ops = [type(o).__name__ for o in node.ops]
            text = parts[0][0] + "".join(f" {o} {p}" for o, (p, _) in zip(ops, parts[1:]))
            return f"({text})", 1 + sum(n for _, n in parts)
        return None

    @staticmethod
    def _access(node, e, inline: bool, keep_str: bool) -> tuple[str, int] | None:
        """Calls, attributes, subscripts and slices."""
        if isinstance(node, ast.Call):
            func, n = e(node.func)
            args = [e(a) for a in node.args] + [e(k.value) for k in node.keywords]
            names = [""] * len(node.args) + [f"{k.arg}=" for k in node.keywords]
            inner = ", ".join(f"{k}{a}" for k, (a, _) in zip(names, args))
            return f"{func}({inner})", n + 1 + sum(m for _, m in args)
        if isinstance(node, ast.Attribute):
            a, n = e(node.value)
            return f"{a}.{node.attr}", n + 1
        if isinstance(node, ast.Subscript):
            (a, na), (s, ns) = e(node.value), e(node.slice, True)
            return f"{a}[{s}]", na + ns + 1
        if isinstance(node, ast.Slice):
            parts = [e(p) if p is not None else ("", 0) for p in (node.lower, node.upper, node.step)]
            return ":".join(p for p, _ in parts), 1 + sum(n for _, n in parts)
        return None

    def _display(self, node, e, inline: bool, keep_str: bool) -> tuple[str, int] | None:
        """Tuples, lists, sets and dicts (a dict's items sorted), and comprehensions."""
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            parts = [e(x, keep_str) for x in node.elts]
            return f"{type(node).__name__}({', '.join(p for p, _ in parts)})", 1 + sum(n for _, n in parts)
        if isinstance(node, ast.Dict):
            keys = [e(k, True) if k is not None else ("**", 1) for k in node.keys]
            values = [e(v) for v in node.values]
            items = sorted(f"{k}: {v}" for (k, _), (v, _) in zip(keys, values))
            return "{" + ", ".join(items) + "}", 1 + sum(n for _, n in keys + values)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            loops = [self.loop_header(g.iter, inline) for g in node.generators]
            conds = [e(c) for g in node.generators for c in g.ifs]
            if isinstance(node, ast.DictComp):
                body = [e(node.key, True), e(node.value)]
            else:
                body = [e(node.elt)]
            text = f"comp({', '.join(p for p, _ in body)}; {'; '.join(loops)}; {'; '.join(c for c, _ in conds)})"
            return text, 1 + sum(n for _, n in body + conds) + len(loops)
        return None

    @staticmethod
    def _other(node, e, inline: bool, keep_str: bool) -> tuple[str, int] | None:
        """Conditional expressions, starred values, lambdas, f-strings and walrus assignments."""
        if isinstance(node, ast.IfExp):
            parts = [e(node.test), e(node.body), e(node.orelse)]
            return f"ifexp({', '.join(p for p, _ in parts)})", 1 + sum(n for _, n in parts)
        if isinstance(node, ast.Starred):
            a, n = e(node.value)
            return f"*{a}", n + 1
        if isinstance(node, ast.Lambda):
            a, n = e(node.body)
            return f"lambda({a})", n + 1
        if isinstance(node, ast.JoinedStr):
            return "S", 1  # an f-string is a message
        if isinstance(node, ast.NamedExpr):
            a, n = e(node.value)
            return f"(v := {a})", n + 1
        return None

    def loop_header(self, iterable, inline: bool = False) -> str:
        """`loop(n)` for range(n) or range(0, n); `loop(over X)` for any other iterable."""
        if (isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.func.id == "range"
                and not iterable.keywords and 1 <= len(iterable.args) <= 2):
            args = iterable.args
            if len(args) == 2 and not (isinstance(args[0], ast.Constant) and args[0].value == 0):
                return f"loop({self.expr(args[0], inline)[0]}..{self.expr(args[1], inline)[0]})"
            return f"loop({self.expr(args[-1], inline)[0]})"
        return f"loop(over {self.expr(iterable, inline)[0]})"

    def inlined(self, node) -> tuple[str, int]:
        text, size = self.expr(node, inline=True)
        return ("v", 1) if size > MAX_INLINED_NODES else (text, size)


def _while_bound(test, local: set[str]):
    """n for `while i < n` (or `n > i`) with i local: the loop a rewritten for-range becomes."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right, op = test.left, test.comparators[0], test.ops[0]
        if isinstance(op, ast.Lt) and isinstance(left, ast.Name) and left.id in local:
            return right
        if isinstance(op, ast.Gt) and isinstance(right, ast.Name) and right.id in local:
            return left
    return None


def _is_counter(targets: list, value) -> bool:
    """`i = 0` or `i = i + 1`: a loop counter's bookkeeping, which a for loop rewritten as a while adds."""
    if len(targets) != 1 or not isinstance(targets[0], ast.Name):
        return False
    if isinstance(value, ast.Constant) and isinstance(value.value, int) and not isinstance(value.value, bool):
        return True
    return (isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add) and isinstance(value.left, ast.Name)
            and value.left.id == targets[0].id and isinstance(value.right, ast.Constant) and value.right.value == 1)


def _as_assign(stmt: ast.AugAssign) -> ast.Assign:
    """x += e is x = x + e."""
    target = stmt.target
    load = ast.copy_location(type(target)(**{**{f: getattr(target, f) for f in target._fields},
                                            "ctx": ast.Load()}), target)
    value = ast.copy_location(ast.BinOp(left=load, op=stmt.op, right=stmt.value), stmt)
    return ast.copy_location(ast.Assign(targets=[target], value=value), stmt)


def _assignment(stmt: ast.Assign | ast.AnnAssign, writer: _Writer, local: set[str]) -> None:
    """An assignment's value, as written and as it flows (local names inlined), under each target."""
    if stmt.value is None:
        return
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    if _is_counter(targets, stmt.value):
        return
    value, _ = writer.expr(stmt.value)
    flow, size = writer.inlined(stmt.value)
    for target in targets:
        if isinstance(target, ast.Name):
            writer.emit(f"= {flow}")
            if target.id in local and target.id not in writer.varying:
                writer.env[target.id] = (flow, size)
        else:
            shape, _ = writer.expr(target)
            writer.emit(f"{shape} = {value}")
            writer.emit(f"{shape} = {flow}")
            for name in ast.walk(target):
                if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store):
                    writer.env.pop(name.id, None)


def _block(stmt: ast.stmt, writer: _Writer, local: set[str]) -> bool:
    """A loop, branch, with, try or nested function: its header, then its bodies. False for any other stmt."""
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        writer.emit(writer.loop_header(stmt.iter))
        bodies = [stmt.body, stmt.orelse]
    elif isinstance(stmt, ast.While):
        bound = _while_bound(stmt.test, local)
        writer.emit(f"loop({writer.expr(bound)[0]})" if bound is not None
                    else f"while {writer.expr(stmt.test)[0]}")
        bodies = [stmt.body, stmt.orelse]
    elif isinstance(stmt, ast.If):
        writer.emit(f"if {writer.expr(stmt.test)[0]}")
        bodies = [stmt.body, stmt.orelse]
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        for item in stmt.items:
            writer.expr(item.context_expr)
        bodies = [stmt.body]
    elif isinstance(stmt, ast.Try):
        bodies = [stmt.body, *[h.body for h in stmt.handlers], stmt.orelse, stmt.finalbody]
    elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        inner = local | local_names(stmt)
        writer.local = inner
        _statements(stmt.body, writer, inner)
        writer.local = local
        return True
    else:
        return False
    for body in bodies:
        _statements(body, writer, local)
    return True


def _simple(stmt: ast.stmt, writer: _Writer) -> None:
    """A return, an expression statement, a raise, an assert, or any other statement by its kind."""
    if isinstance(stmt, ast.Return):
        if stmt.value is not None:
            writer.expr(stmt.value)
            writer.emit(f"return {writer.inlined(stmt.value)[0]}")
    elif isinstance(stmt, ast.Expr):
        text, _ = writer.expr(stmt.value)
        writer.emit(f"do {text}")
    elif isinstance(stmt, ast.Raise):
        writer.emit("raise")
    elif isinstance(stmt, ast.Assert):
        writer.emit(f"assert {writer.expr(stmt.test)[0]}")
    else:
        writer.emit(type(stmt).__name__)


def _statements(body: list[ast.stmt], writer: _Writer, local: set[str]) -> None:
    for stmt in body:
        if _is_print(stmt) or _is_docstring_or_noop(stmt):
            continue
        writer.span = (getattr(stmt, "lineno", 0), getattr(stmt, "end_lineno", 0) or getattr(stmt, "lineno", 0))
        if isinstance(stmt, ast.AugAssign):
            stmt = _as_assign(stmt)
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            _assignment(stmt, writer, local)
        elif not _block(stmt, writer, local):
            _simple(stmt, writer)


def fragments(func: ast.FunctionDef, known: frozenset[str] = frozenset()) -> list[Fragment]:
    """The function's normalised fragments, in source order (the same text may come more than once).

    known: the names bound at the notebook's top level and builtins (see local_names)."""
    out: list[Fragment] = []
    names = _names(func)
    local = local_names(func, known, names)
    writer = _Writer(local, names.varying, out, (func.lineno, func.lineno))
    _statements(func.body, writer, local)
    return out
