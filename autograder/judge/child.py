"""The judge's child: loads a student's notebook code, then calls functions on request.

Runs as `python -I` with the codec's source prepended and none of the kit importable. It reads
frames on fd REQUEST_FD and answers on fd REPLY_FD; the student's own stdout and stderr go to
files in its scratch folder. Every answer is plain data; the parent decides what it means.
"""
import os
import sys
import traceback

REQUEST_FD, REPLY_FD = int(sys.argv[1]), int(sys.argv[2])
_reader = os.fdopen(REQUEST_FD, "rb", buffering=0)
_writer = os.fdopen(REPLY_FD, "wb", buffering=0)
_write, _read = os.write, os.read  # keep our own references: student code may patch os


def _send(message):
    data = encode(message)  # noqa: F821 (from the codec, prepended)
    view = memoryview(data)
    while view:
        n = _write(REPLY_FD, view)
        view = view[n:]


def _recv_exact(n):
    chunks, got = [], 0
    while got < n:
        chunk = _read(REQUEST_FD, n - got)
        if not chunk:
            raise SystemExit(0)
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _recv():
    length = frame_length(_recv_exact(HEADER_SIZE))  # noqa: F821
    return decode(_recv_exact(length))  # noqa: F821


def _where(exc):
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell")]
    if frames:
        f = frames[-1]
        line = f" (line {f.lineno}: {f.line.strip()})" if f.line else f" (line {f.lineno})"
        return f"{type(exc).__name__}: {exc}{line}"
    return f"{type(exc).__name__}: {exc}"


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


class _DependencyError(Exception):
    pass


def _stub(name):
    """A stand-in for a global the check replaces: the call is answered by the trusted side."""
    def call_trusted(*args):
        _send({"type": "dep", "name": name, "args": list(args)})
        reply = _recv()
        if reply.get("type") == "dep_result":
            return reply["value"]
        raise _DependencyError(reply.get("message", "the trusted function refused this call"))
    call_trusted.__name__ = name
    return call_trusted


def _load(cells, namespace):
    import linecache
    for index, source in cells:
        _send({"type": "loading", "cell": index})
        name = f"<cell {index}>"
        text = _clean_source(source)
        linecache.cache[name] = (len(text), None, text.splitlines(True), name)
        try:
            exec(compile(text, name, "exec"), namespace)
        except BaseException as exc:  # noqa: B902 (a cell that raises or exits is reported, not fatal)
            _send({"type": "cell_error", "cell": index, "message": _where(exc)})
    _send({"type": "loaded"})


def _serve(namespace):
    missing = object()
    while True:
        request = _recv()
        if request.get("type") != "call":
            continue
        function, deps = request["function"], request.get("deps") or {}
        target = namespace.get(function)
        if not callable(target):
            _send({"type": "error", "kind": "undefined",
                   "message": f"`{function}` is not defined in the notebook"})
            continue
        saved = {n: namespace.get(n, missing) for n in deps}
        namespace.update({n: _stub(n) for n in deps})
        try:
            result = target(*request["args"])
            try:
                _send({"type": "result", "value": result})
            except Exception as exc:  # the value is not plain data
                _send({"type": "error", "kind": "unplain", "message": str(exc)})
        except NotImplementedError as exc:
            _send({"type": "error", "kind": "not_implemented",
                   "message": f"`{function}` is not implemented yet (it raises NotImplementedError)"})
        except BaseException as exc:  # noqa: B902
            _send({"type": "error", "kind": "raised", "message": _where(exc)})
        finally:
            for n, old in saved.items():
                if old is missing:
                    namespace.pop(n, None)
                else:
                    namespace[n] = old


def _main():
    sys.path.insert(0, os.getcwd())  # the assignment's helper modules sit in the scratch folder
    start = _recv()
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    _load(start["cells"], namespace)
    _serve(namespace)


_main()
