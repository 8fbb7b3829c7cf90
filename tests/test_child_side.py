"""A dependency's child-side fast path answers exactly what the judge would, or declines.

Every assignment's CHILD_SIDE entry is compiled as the judge's child compiles it and held to the
trusted function answered through the wire format, on honest inputs and odd ones; what it
declines goes to the judge, so refusals keep the judge's own words (checked on a real child).
"""
import numpy as np
import pytest

from autograder.course import graders
from autograder.course.manifest import available, tolerances_for
from autograder.judge import codec

from conftest import ROOT

ENTRIES = [(a, name) for a in available(ROOT) for name in graders.load(a, ROOT).child_side]


def _fast(assignment, name):
    scope = {"numpy": np, "__builtins__": __builtins__}
    exec(compile(graders.load(assignment, ROOT).child_side[name], name, "exec"), scope)
    return scope["fast_path"]


def _wire(value):
    frame = codec.encode(value)
    return codec.decode(frame[codec.HEADER_SIZE:])


def _same(a, b):
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return (type(b) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape
                and a.tobytes() == b.tobytes() and b.flags.writeable)
    return type(a) is type(b) and (a == b or (a != a and b != b))


def _inputs(n):
    rng = np.random.default_rng(7)
    column = rng.standard_normal((n, 1))
    special = column.copy()
    special[:3, 0] = [np.nan, np.inf, -0.0]
    return {
        "column": ((column,), {}), "flat": ((column.ravel(),), {}), "row": ((column.T,), {}),
        "float32": ((column.astype(np.float32),), {}), "ints": ((np.arange(n),), {}),
        "bools": ((np.arange(n) % 2 == 0,), {}), "big-endian": ((column.astype(">f8"),), {}),
        "a strided view": ((rng.standard_normal(2 * n)[::2],), {}), "nan, inf and -0": ((special,), {}),
        # declined: the judge answers, refuses or fails these as before
        "too short": ((column[:-1],), {}), "a list": ((list(column.ravel()),), {}),
        "a keyword": ((), {"theta": column}), "two arguments": ((column, column), {}),
        "a subclass": ((column.view(type("Tagged", (np.ndarray,), {})),), {}),
        "complex": ((column.astype(complex),), {}), "a number": ((1.0,), {}),
    }


DECLINED = {"too short", "a list", "a keyword", "two arguments", "a subclass", "complex", "a number"}


@pytest.mark.parametrize("assignment,name", ENTRIES)
def test_a_fast_path_answers_as_the_trusted_function_or_declines(assignment, name):
    assert name.endswith("vector_to_dictionary"), "a fast path of another kind needs its own inputs here"
    fast, trusted = _fast(assignment, name), graders.load(assignment, ROOT).resolve(name)
    for label, (args, kwargs) in _inputs(47).items():
        mine = fast(args, kwargs)
        if label in DECLINED:
            assert mine is NotImplemented, label
            continue
        assert mine is not NotImplemented, label
        wire_args = _wire(list(args))
        graders.check_arguments(f"{assignment}:{name}", wire_args, {})  # the judge would have answered it
        assert _same(_wire(mine), _wire(trusted(*wire_args))), label


def test_every_fast_path_is_declared_for_a_known_dependency():
    assert ENTRIES, "gradient_checking's vector_to_dictionary runs in the child"
    for assignment in available(ROOT):
        grader = graders.load(assignment, ROOT)
        assert set(grader.child_side) <= set(grader.dependencies)


def test_a_call_the_fast_path_declines_is_refused_by_the_judge_in_its_own_words():
    """A checker handing vector_to_dictionary a vector one entry short: the child's fast path
    declines, the judge refuses, and the verdict says so in the judge's words."""
    from autograder.judge.judge import judge_notebook
    from test_assignments import LIMITS
    from submissions import load_source, plant

    nb = plant(load_source(), "gradient_check_n",
               "J_plus[i], _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_plus))",
               "J_plus[i], _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_plus[1:]))")
    judged = judge_notebook(nb, "gradient_checking", ROOT / "source" / "gradient_checking", LIMITS,
                            tolerances_for("gradient_checking", ROOT), functions=["gradient_check_n"])
    (result,) = judged.results
    assert result.status == "error"
    assert "the call vector_to_dictionary(...) was refused: theta must have 47 entries" in result.message, result.message
