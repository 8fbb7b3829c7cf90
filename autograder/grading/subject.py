"""How a check reaches the student's functions: the Subject interface and plain data (trusted side).

A check asks a Subject to call one student function with inputs the check chose, optionally
with some of the globals it uses replaced by named dependencies (the reference versions, or a
cost whose answer is known). The Subject hands back plain data only: numbers, strings, None,
float/int/bool arrays, and lists, tuples and string-keyed dicts of those.
"""
from __future__ import annotations

import contextlib
import copy
import io
import re
import traceback
import warnings
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from .status import Status


class StudentError(Exception):
    """The student's function raised, or returned something that is not plain data."""

    def __init__(self, message: str, status: Status = Status.ERROR):
        super().__init__(message)
        self.message = message
        self.status = Status(status)  # error, timeout, missing or failed


class Subject(Protocol):
    def call(self, function: str, args: tuple, deps: Mapping[str, str] | None = None,
             unchanged: Mapping[int, str] | None = None) -> Any:
        """Call the student's `function(*args)` with globals named in deps swapped in. unchanged
        ({position: name}) are arguments documented as not modified: the call fails (status
        "failed") when the function modified one of them in place."""


def modified_message(function: str, names: list[str]) -> str:
    """What a student is told whose function modified arguments it must leave alone."""
    return (f"`{function}` modified its argument{'s' if len(names) > 1 else ''} {', '.join(names)} in "
            "place, which its docstring says it does not modify: work on a copy")


PLAIN_DTYPES = "fiub"  # float, signed and unsigned int, bool


def to_plain(value: Any, depth: int = 0) -> Any:
    """Copy a return value into plain data, or raise StudentError naming what is not plain."""
    if depth > 8:
        raise StudentError("the returned value is nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in PLAIN_DTYPES + "U":
        return value.item()
    if isinstance(value, np.ndarray):
        array = np.array(value, copy=True, subok=False)
        if array.dtype.kind not in PLAIN_DTYPES:
            raise StudentError(f"returned an array of dtype {array.dtype}; expected numbers")
        return array
    if type(value) in (list, tuple):
        items = [to_plain(v, depth + 1) for v in value]
        return tuple(items) if type(value) is tuple else items
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            raise StudentError("returned a dict whose keys are not all strings")
        return {k: to_plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, str):  # subclasses (numpy's str_ included): keep only the text
        return str(value)
    if isinstance(value, (int, float)):  # subclasses: keep only the number
        return float(value) if isinstance(value, float) else int(value)
    raise StudentError(f"returned a {type(value).__name__}; expected numbers or numpy arrays")


#: A grader's own files: assignments/<name>/grader/*.py.
_GRADER_FILE = re.compile(r"[/\\]assignments[/\\][^/\\]+[/\\]grader[/\\][^/\\]+$")


def _trusted(filename: str) -> bool:
    """True for the kit's and the graders' files: an error's line is the student's, not theirs."""
    return "autograder" in filename or bool(_GRADER_FILE.search(filename))


def describe_exception(exc: BaseException, filename_hint: str = "<notebook>") -> str:
    """One readable line for an exception from student code, with the line it came from."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    for frame in reversed(frames):
        if not _trusted(frame.filename):
            where = f" (line {frame.lineno}: {frame.line.strip()})" if frame.line else f" (line {frame.lineno})"
            break
    return f"{type(exc).__name__}: {exc}{where}"


@contextlib.contextmanager
def quiet():
    """Silence warnings, numpy floating-point messages and stdout/stderr of student code."""
    with warnings.catch_warnings(), np.errstate(all="ignore"), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def swapped(namespace: dict, replacements: Mapping[str, Callable]):
    """Temporarily replace names in a namespace (the student's globals), then restore them."""
    missing = object()
    saved = {name: namespace.get(name, missing) for name in replacements}
    namespace.update(replacements)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = old


class InProcessSubject:
    """Calls functions that live in a namespace of this process (a notebook's globals).

    Used by the hidden test cells inside the kernel (display only) and by the kit's tests.
    """

    def __init__(self, namespace: dict, resolve: Callable[[str], Callable]):
        self.namespace = namespace
        self.resolve = resolve

    def call(self, function, args, deps=None, unchanged=None):
        target = self.namespace.get(function)
        unchanged = dict(unchanged or {})
        before = {i: copy.deepcopy(args[i]) for i in unchanged if 0 <= i < len(args)}
        if not callable(target):
            raise StudentError(f"`{function}` is not defined in the notebook", Status.MISSING)
        replacements = {name: self.resolve(spec) for name, spec in (deps or {}).items()}
        with swapped(self.namespace, replacements), quiet():
            try:
                result = target(*args)
            except NotImplementedError:
                raise StudentError(f"`{function}` is not implemented yet (it raises NotImplementedError)",
                                   Status.MISSING) from None
            except Exception as exc:  # the student's exception is the verdict, not ours
                raise StudentError(describe_exception(exc)) from None
        changed = [name for i, name in unchanged.items() if i in before and not same_data(before[i], args[i])]
        if changed:
            raise StudentError(modified_message(function, changed), Status.FAILED)
        return to_plain(result)


def same_data(a: Any, b: Any) -> bool:
    """Plain data a and b are equal, arrays element by element (nan equal to nan)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_data(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_data(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b
