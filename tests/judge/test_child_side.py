"""A dependency's child-side fast path answers exactly what the judge would, or declines, and
never reaches a child before the verdict of the exercise it would give away.

Every assignment's CHILD_SIDE entry is compiled as the judge's child compiles it and held to the
trusted function answered through the wire format, on honest inputs and odd ones; what it
declines goes to the judge, so refusals keep the judge's own words (checked on a real child).
"""
import numpy as np
import pytest

from autograder.course import graders
from autograder.course.manifest import available, tolerances_for
from autograder.judge.assembly import load_part

from support import ROOT

codec = load_part("codec")

ENTRIES = [(a, name) for a in available(ROOT) for name in graders.load(a, ROOT).child_side]


def _fast(assignment, name):
    scope = {"numpy": np, "__builtins__": __builtins__}
    exec(compile(graders.load(assignment, ROOT).child_side[name].source, name, "exec"), scope)
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


def _vector_inputs(n):
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


VECTOR_DECLINED = {"too short", "a list", "a keyword", "two arguments", "a subclass", "complex", "a number"}


def _network_inputs():
    """(X, Y, parameters) calls of a network cost: a checker's own, and ones it declines."""
    rng = np.random.default_rng(11)
    shapes = {"W1": (5, 4), "b1": (5, 1), "W2": (3, 5), "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    X, Y = rng.standard_normal((4, 3)), (rng.random((1, 3)) > 0.5).astype(np.float64)

    def edited(**changes):
        return {**{k: v.copy() for k, v in params.items()}, **changes}
    return {
        "honest": ((X, Y, params), {}), "one example": ((X[:, :1], Y[:, :1], params), {}),
        "Fortran-ordered": ((np.asfortranarray(X), Y, edited(W1=np.asfortranarray(params["W1"]))), {}),
        "views": ((X[:, ::1], Y, edited(W2=params["W2"][:, :])), {}),
        "reordered keys": ((X, Y, dict(reversed(list(params.items())))), {}),
        "large weights": ((X, Y, edited(W3=params["W3"] * 1e3)), {}),
        "nan": ((X, Y, edited(b1=np.full((5, 1), np.nan))), {}),
        # declined: the judge answers, refuses or fails these as before
        "float32": ((X.astype(np.float32), Y, params), {}), "big-endian": ((X.astype(">f8"), Y, params), {}),
        "int Y": ((X, Y.astype(int), params), {}), "a keyword": ((X, Y), {"parameters": params}),
        "two arguments": ((X, Y), {}), "an extra key": ((X, Y, edited(W4=np.zeros((1, 1)))), {}),
        "a missing key": ((X, Y, {k: v for k, v in params.items() if k != "b3"}), {}),
        "a wrong shape": ((X, Y, edited(W1=np.zeros((4, 5)))), {}), "X of 5 rows": ((np.zeros((5, 3)), Y, params), {}),
        "Y of another m": ((X, Y[:, :2], params), {}), "no examples": ((X[:, :0], Y[:, :0], params), {}),
        "too many examples": ((np.zeros((4, 1001)), np.zeros((1, 1001)), params), {}),
        "a list": ((X.tolist(), Y, params), {}),
        "a subclass": ((X.view(type("Tagged", (np.ndarray,), {})), Y, params), {}),
    }


NETWORK_DECLINED = {"float32", "big-endian", "int Y", "a keyword", "two arguments", "an extra key", "a missing key",
                    "a wrong shape", "X of 5 rows", "Y of another m", "no examples", "too many examples", "a list",
                    "a subclass"}


def _cases(name):
    if name.endswith("vector_to_dictionary"):
        return _vector_inputs(47), VECTOR_DECLINED
    if name.endswith(("forward_propagation_n", "forward_n", "forward_n_other")):
        return _network_inputs(), NETWORK_DECLINED
    raise AssertionError(f"a fast path for {name} needs its own inputs here")


@pytest.mark.parametrize("assignment,name", ENTRIES)
def test_a_fast_path_answers_as_the_trusted_function_or_declines(assignment, name):
    fast, trusted = _fast(assignment, name), graders.load(assignment, ROOT).resolve(name)
    inputs, declined = _cases(name)
    for label, (args, kwargs) in inputs.items():
        with np.errstate(all="ignore"):
            mine = fast(args, kwargs)
        if label in declined:
            assert mine is NotImplemented, label
            continue
        assert mine is not NotImplemented, label
        wire_args = _wire(list(args))
        graders.check_arguments(f"{assignment}:{name}", wire_args, {})  # the judge would have answered it
        with np.errstate(all="ignore"):
            assert _same(mine, _wire(trusted(*wire_args))), label  # what the child's code gets either way


def test_every_fast_path_is_declared_for_a_known_dependency():
    assert ENTRIES, "gradient_checking's vector_to_dictionary runs in the child"
    for assignment in available(ROOT):
        grader = graders.load(assignment, ROOT)
        assert set(grader.child_side) <= set(grader.dependencies)


def test_a_call_the_fast_path_declines_is_refused_by_the_judge_in_its_own_words():
    """A checker handing vector_to_dictionary a vector one entry short: the child's fast path
    declines, the judge refuses, and the verdict says so in the judge's words."""
    from autograder.judge.judge import judge_notebook
    from support import GENEROUS_LIMITS as LIMITS
    from support.submissions import load_source, plant

    nb = plant(load_source(), "gradient_check_n",
               "J_plus[i], _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_plus))",
               "J_plus[i], _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_plus[1:]))")
    judged = judge_notebook(nb, "gradient_checking", ROOT / "source" / "gradient_checking", LIMITS,
                            tolerances_for("gradient_checking", ROOT), functions=["gradient_check_n"])
    (result,) = judged.results
    assert result.status == "error"
    assert "the call vector_to_dictionary(...) was refused: theta must have 47 entries" in result.message, result.message


def _arrays(value):
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _arrays(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _arrays(item)


@pytest.mark.parametrize("assignment,name", ENTRIES)
def test_a_fast_path_answer_shares_no_memory_with_its_arguments(assignment, name):
    """Over the wire an answer is a copy: a student's later change to it must not reach their arguments."""
    fast = _fast(assignment, name)
    inputs, declined = _cases(name)
    for label, (args, kwargs) in inputs.items():
        if label in declined:
            continue
        with np.errstate(all="ignore"):
            answer = fast(args, kwargs)
        assert not any(np.shares_memory(a, b) for a in _arrays(answer) for b in _arrays(args)), label


@pytest.mark.parametrize("assignment,name", ENTRIES)
def test_a_fast_path_that_gives_an_exercise_away_waits_for_its_verdict(assignment, name):
    fast = graders.load(assignment, ROOT).child_side[name]
    qualified = f"{assignment}:{name}"
    assert graders.child_side_source(qualified, fast.after) == fast.source
    for missing in fast.after:
        assert graders.child_side_source(qualified, fast.after - {missing}) is None, missing


STASHING_CHECKER = '''
def gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7, print_msg=False):
    import builtins
    builtins.kept_forward = forward_propagation_n  # whatever the judge swapped in, kept for later
    return 1.0
'''
FORWARD_FROM_THE_STASH = '''
def forward_propagation_n(X, Y, parameters):
    import builtins
    return builtins.kept_forward(X, Y, parameters)
'''


@pytest.mark.parametrize("order", [["gradient_check_n", "forward_propagation_n"],
                                   ["forward_propagation_n", "gradient_check_n"]])
def test_a_fast_path_kept_by_a_checker_cannot_pass_the_exercise_it_holds(order):
    """A checker keeps the forward_propagation_n it was given, and forward_propagation_n answers with
    it: whichever exercise is judged first, that reference code is not in the child yet."""
    from autograder.judge.judge import judge_notebook
    from support import GENEROUS_LIMITS as LIMITS
    from support.submissions import load_source, replace_solution

    nb = replace_solution(load_source(), "gradient_check_n", STASHING_CHECKER)
    nb = replace_solution(nb, "forward_propagation_n", FORWARD_FROM_THE_STASH)
    judged = judge_notebook(nb, "gradient_checking", ROOT / "source" / "gradient_checking", LIMITS,
                            tolerances_for("gradient_checking", ROOT), functions=order)
    status = {r.function: r.status for r in judged.results}
    assert status["forward_propagation_n"] == "error", judged.results
    assert status["gradient_check_n"] == "failed", judged.results


def test_a_trusted_function_failing_on_its_arguments_echoes_nothing_of_them(monkeypatch):
    """Arguments the grader's check lets through may still make a trusted function fail; its
    message (numpy's "shapes (4,7) and (1234567,)") could carry numbers the student's code chose
    from a hidden case's inputs, so the judge names only the exception's type."""
    from autograder.judge import judge
    from support import GENEROUS_LIMITS as LIMITS
    from support.submissions import load_source

    def fail(*args, **kwargs):
        raise ValueError("shapes (4,7) and (1234567,) not aligned")

    monkeypatch.setattr(judge, "resolve", lambda qualified: fail)
    judged = judge.judge_notebook(load_source(), "gradient_checking", ROOT / "source" / "gradient_checking", LIMITS,
                                  tolerances_for("gradient_checking", ROOT), functions=["gradient_check_n"])
    (result,) = judged.results
    assert "(...) was refused: it raised ValueError on these arguments" in result.message, result.message
    assert "1234567" not in result.message and "(4,7)" not in result.message
