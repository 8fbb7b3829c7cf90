"""The judge's child: runs a student's notebook code, then calls its functions on request.

A part of the zygote's program (README.md): it runs after codec.py and confine.py, in each child
the zygote forks, with none of the kit importable. It reads frames on one fd and answers on another;
each cell's outputs (stdout, stderr, the last expression, figures, the error) are sent back
for the student's feedback. Every answer is plain data; the parent decides what it means.
"""
import ast
import base64
import inspect
import io
import linecache
import os
import sys
import traceback

_FDS = {}
_write, _read = os.write, os.read  # our own references: student code may patch os
#: Text kept per output stream of a cell; the rest is counted, not stored.
MAX_CELL_TEXT = 100_000


def _send(message):
    data = encode(message)  # noqa: F821 (codec.py comes before)
    view = memoryview(data)
    while view:
        n = _write(_FDS["reply"], view)
        view = view[n:]


def _recv_exact(n):
    chunks, got = [], 0
    while got < n:
        chunk = _read(_FDS["request"], n - got)
        if not chunk:
            os._exit(0)
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _recv():
    length = frame_length(_recv_exact(HEADER_SIZE))  # noqa: F821
    return decode(_recv_exact(length))  # noqa: F821


class _Capped(io.TextIOBase):
    """A text stream that keeps the first MAX_CELL_TEXT characters and counts the rest."""

    def __init__(self):
        self.parts, self.kept, self.dropped = [], 0, 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = MAX_CELL_TEXT - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def value(self):
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n... [{self.dropped} more characters not shown]\n"
        return text


def _where(exc):
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell")]
    # our own _DependencyError is shown by its message alone: its name means nothing to a student
    what = str(exc) if isinstance(exc, _DependencyError) else f"{type(exc).__name__}: {exc}"
    if frames:
        f = frames[-1]
        line = f" (line {f.lineno}: {f.line.strip()})" if f.line else f" (line {f.lineno})"
        return what + line
    return what


def _origin(exc):
    """A judged call's exception as the judge may show it: its type and the notebook line it came
    from, never its message (the judge writes the text, from its own copy of the cells)."""
    origin = {"exception": type(exc).__name__}
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell ")]
    if frames:
        try:
            origin["cell"] = int(frames[-1].filename[len("<cell "):-1])
            origin["line"] = int(frames[-1].lineno)
        except (TypeError, ValueError):
            pass
    return origin


def _clean_source(source):
    """Drop IPython-only lines (magics, shell escapes) so the cell compiles as plain Python."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            lines.append(line[: len(line) - len(stripped)] + "pass")
        else:
            lines.append(line)
    return "\n".join(lines)


def _figures():
    """PNG outputs of the figures a cell left open (as Jupyter's inline backend shows them)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    outputs = []
    try:
        for number in pyplot.get_fignums():
            buffer = io.BytesIO()
            pyplot.figure(number).savefig(buffer, format="png", dpi=72)
            outputs.append({"output_type": "display_data", "metadata": {},
                            "data": {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
                                     "text/plain": f"<Figure {number}>"}})
        pyplot.close("all")
    except Exception:  # a broken figure is the student's; it just isn't shown
        pass
    return outputs


def _display_into(outputs):
    def display(*objects, **_):
        for obj in objects:
            outputs.append({"output_type": "display_data", "metadata": {}, "data": {"text/plain": repr(obj)}})
    return display


def _run_cell(index, source, namespace):
    """Execute one cell like a kernel would; its outputs, in notebook format."""
    name = f"<cell {index}>"
    text = _clean_source(source)
    linecache.cache[name] = (len(text), None, text.splitlines(True), name)
    outputs, out, err = [], _Capped(), _Capped()
    namespace["display"] = _display_into(outputs)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    result, error = None, None
    try:
        tree = ast.parse(text, name)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, name, "exec"), namespace)
        if last is not None:
            result = eval(compile(ast.Expression(last.value), name, "eval"), namespace)
    except BaseException as exc:  # noqa: B902 (a cell that raises or exits is reported, not fatal)
        error = exc
    finally:
        sys.stdout, sys.stderr = saved
    for stream, buffer in (("stdout", out), ("stderr", err)):
        if buffer.kept or buffer.dropped:
            outputs.append({"output_type": "stream", "name": stream, "text": buffer.value()})
    if result is not None and error is None:
        try:
            shown = repr(result)[:MAX_CELL_TEXT]
        except BaseException:  # noqa: B902
            shown = f"<{type(result).__name__}>"
        outputs.append({"output_type": "execute_result", "metadata": {}, "data": {"text/plain": shown}})
    outputs.extend(_figures())
    message = None
    if error is not None:
        message = _where(error)
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        lines = [line for line in lines if "<cell" in line or not line.startswith("  File")]
        outputs.append({"output_type": "error", "ename": type(error).__name__, "evalue": str(error)[:2000],
                        "traceback": [line.rstrip("\n")[:2000] for line in lines[-20:]]})
    return outputs, message


class _DependencyError(Exception):
    """A trusted stand-in refused a call; shown to the student by its message alone."""


def _stub(name):
    """A stand-in for a global the check replaces: the call is answered by the trusted side."""
    def call_trusted(*args, **kwargs):
        _send({"type": "dep", "name": name, "args": list(args), "kwargs": dict(kwargs)})
        reply = _recv()
        if reply.get("type") == "dep_result":
            return reply["value"]
        raise _DependencyError(f"the call {name}(...) was refused: "
                               + str(reply.get("message", "the arguments are not what it takes")))
    call_trusted.__name__ = name
    return call_trusted


#: Child-side fast paths of trusted functions, compiled once: {source: fast_path(args, kwargs)}.
_FAST_PATHS = {}


def _fast_stub(name, source):
    """A stand-in that answers the common case here (a fast path the judge sent: a reshaping, say)
    and asks the trusted side for the rest, exactly as _stub does."""
    if source not in _FAST_PATHS:
        scope = {"numpy": sys.modules["numpy"], "__builtins__": __builtins__}
        exec(compile(source, f"<fast path of {name}>", "exec"), scope)
        _FAST_PATHS[source] = scope["fast_path"]
    fast, ask = _FAST_PATHS[source], _stub(name)

    def call_fast(*args, **kwargs):
        value = fast(args, kwargs)
        return ask(*args, **kwargs) if value is NotImplemented else value
    call_fast.__name__ = name
    return call_fast


#: Cells that did not compile: (index, source, line, exception type), to say why a function is not defined.
_UNCOMPILED = []


def _load(cells, namespace):
    for index, source in cells:
        _send({"type": "loading", "cell": index})
        outputs, message = _run_cell(index, source, namespace)
        try:
            ast.parse(_clean_source(source))
        except SyntaxError as exc:
            _UNCOMPILED.append((index, source, exc.lineno, type(exc).__name__))
        _send({"type": "cell_done", "cell": index, "outputs": outputs, "error": message})
    _send({"type": "loaded"})


def _undefined(function):
    """Where `function` failed to compile, as checked fields (the judge writes the words), or {}."""
    for index, source, line, exception in _UNCOMPILED:
        if f"def {function}(" in source.replace(f"def {function} (", f"def {function}("):
            return {"cell": index, "line": line, "exception": exception}
    return {}


def _same_encoding(value, data):
    try:
        return encode(value) == data  # noqa: F821
    except Exception:  # the student put something that is not plain data into it
        return False


def _accepts(target, count):
    """False when target's signature cannot take `count` positional arguments (e.g. no print_msg)."""
    try:
        inspect.signature(target).bind(*range(count))
    except TypeError:
        return False
    except ValueError:  # no signature to read (a builtin): let the call decide
        pass
    return True


def _serve(namespace):
    missing = object()
    while True:
        request = _recv()
        if request.get("type") != "call":
            continue
        function, deps = request["function"], request.get("deps") or {}
        target = namespace.get(function)
        if not callable(target):
            _send({"type": "error", "kind": "undefined", **_undefined(function)})
            continue
        if not _accepts(target, len(request["args"])):
            _send({"type": "error", "kind": "signature", "given": len(request["args"])})
            continue
        saved = {n: namespace.get(n, missing) for n in deps}
        fast = request.get("fast") or {}
        namespace.update({n: _fast_stub(n, fast[n]) if n in fast else _stub(n) for n in deps})
        sink = _Capped()
        streams = sys.stdout, sys.stderr
        args = request["args"]
        # arguments documented as not modified: their encoding now, to compare after the call
        before = {i: encode(args[i]) for i in request.get("unchanged") or [] if 0 <= i < len(args)}  # noqa: F821
        sys.stdout = sys.stderr = sink  # prints inside a judged call are not the student's feedback
        try:
            result = target(*args)
            sys.stdout, sys.stderr = streams
            changed = [i for i, data in before.items() if not _same_encoding(args[i], data)]
            try:
                _send({"type": "result", "value": result, "changed": changed})
            except Exception:  # the value is not plain data
                _send({"type": "error", "kind": "unplain"})
        except NotImplementedError:
            sys.stdout, sys.stderr = streams
            _send({"type": "error", "kind": "not_implemented"})
        except BaseException as exc:  # noqa: B902
            sys.stdout, sys.stderr = streams
            _send({"type": "error", "kind": "raised", **_origin(exc)})
        finally:
            for n, old in saved.items():
                if old is missing:
                    namespace.pop(n, None)
                else:
                    namespace[n] = old


def _replay(prelude, cells):
    """When the notebook opens with the prelude's cells (the release's locked opening, which the
    zygote ran before forking this child), report their outputs and start from their namespace;
    the cells left to run, and the namespace."""
    if prelude and cells[:len(prelude["cells"])] == prelude["cells"]:
        for (index, _), outputs in zip(prelude["cells"], prelude["outputs"]):
            _send({"type": "loading", "cell": index})
            _send({"type": "cell_done", "cell": index, "outputs": outputs, "error": None})
        return cells[len(prelude["cells"]):], prelude["namespace"]
    return cells, {"__name__": "__main__", "__builtins__": __builtins__}


def child_main(request_fd, reply_fd, prelude=None):
    """Serve one submission: load its cells, then answer calls until the parent hangs up."""
    _FDS["request"], _FDS["reply"] = request_fd, reply_fd
    sys.path.insert(0, os.getcwd())  # the assignment's helper modules sit in the scratch folder
    start = _recv()
    cells = [(index, source) for index, source in start["cells"]]
    cells, namespace = _replay(prelude, cells)
    _load(cells, namespace)
    _serve(namespace)
    os._exit(0)
