"""The lab's hidden checks are at least as strict as its visible tests, and say no more than they know.

Each row of tests/data/lab_wrong_implementations.toml is a wrong implementation of one exercise,
run into the solved notebook's globals: the hidden check must reject it whenever the visible test
does (and every row here is wrong, so it must reject it, unless the row documents why the
mistake cannot change a result); and its message names the row's mistake, or no mistake at all.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import sys

import pytest

from autograder.course import graders, manifest
from autograder.grading.results import run_check
from autograder.grading.subject import InProcessSubject

from support import DATA, ROOT
from test_assignments import inside, notebook_namespace, solution_source, source_of, without_magics

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LAB = "gradient_checking_lab"
ROWS = tomllib.loads((DATA / "lab_wrong_implementations.toml").read_text(encoding="utf-8"))["wrong"]
COPY_LINE = "    parameters = {key: np.copy(value) for key, value in parameters.items()}\n"
NAMED = ("It looks like", "it looks like", "Your checks match")


def _judge(row):
    namespace, source = notebook_namespace(LAB, ROOT), source_of(LAB, ROOT)
    grader, tolerances = graders.load(LAB, ROOT), manifest.tolerances_for(LAB, ROOT)
    saved = dict(namespace)
    function = row["function"]
    try:
        with inside(ROOT / "source" / LAB), contextlib.redirect_stdout(io.StringIO()):
            cell = solution_source(source, function)
            assert cell.count(row["old"]) == 1, f"{row['old']!r} must occur once in {function}"
            cell = cell.replace(row["old"], row["new"])
            if row.get("drop_copy"):
                assert COPY_LINE in cell
                cell = cell.replace(COPY_LINE, "")
            exec(compile(without_magics(cell), f"<{function}>", "exec"), namespace)
            lab_tests = importlib.import_module("lab_tests")
            try:
                getattr(lab_tests, f"test_{function}")(namespace[function])
                visible = "passed"
            except BaseException as exc:  # noqa: B902 (a visible test fails by raising)
                visible = f"rejected: {exc}"
            hidden = run_check(function, InProcessSubject(namespace, graders.resolve), tolerances, grader.checks)
    finally:
        namespace.clear()
        namespace.update(saved)
    return visible, hidden


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_a_wrong_implementation_is_rejected_with_the_right_hint_or_none(row):
    visible, hidden = _judge(row)
    if row.get("expect_hidden") == "passed":
        assert visible == "passed", f"the visible test rejects it ({visible}); so must the hidden check"
        assert hidden.status == "passed", hidden.message
        return
    assert hidden.status in ("failed", "error"), f"hidden check passed it; visible test: {visible}"
    if row["hint"]:
        assert row["hint"] in hidden.message, hidden.message
    else:
        assert not any(word in hidden.message for word in NAMED), hidden.message


@pytest.mark.parametrize("got,expected,said", [
    (21715872942.0, 1.0, "it is too large"),
    (350.0, 1.0, "it is too large"),
    (1e-9, 2e-3, "it is too small"),
    (4.0, 1.0, "it is 4 times too large"),
    (0.5, 1.0, "it is 2 times too small"),
    (-1.0, 1.0, "it has the wrong sign"),
    (1.05, 1.0, "it is too large"),
    (0.0, 1.0, "it is 0"),
    (1.0, 0.0, "it should be 0"),
])
def test_a_hidden_value_is_described_in_a_few_fixed_words(got, expected, said):
    """Never a number the student's value sets: it could carry a hidden input back."""
    from autograder.grading.compare import off_by
    assert off_by(got, expected) == said


def test_no_value_a_student_returns_reads_back_in_a_hidden_message():
    import numpy as np
    from autograder.grading.compare import off_by
    said = {off_by(got, 1.2345) for got in np.random.default_rng(0).uniform(-1e6, 1e6, 2000)}
    assert len(said) <= 4, said  # the direction, wrong sign, and the factor it happened to hit


#: Course secrets under which a locate_bug that does not pass epsilon on fails a hidden bug case
#: (a block other than the bug's crosses the threshold at the default step) before the case at
#: ε = 0.01: the same hint must be given there.
EPSILON_SECRETS = ["770cd3a7d338f4dc08b7adce0ee3323ce8e7695986c9cbd57581d47860b12794",
                   "ac7c6d2f333f093bf616047c3deffa83c6782a7bc12008bf9a2e6d4f9bc2b03b"]


@pytest.mark.parametrize("secret", EPSILON_SECRETS)
def test_ignoring_epsilon_in_locate_bug_gets_its_hint_under_any_secret(secret, pin_secret):
    pin_secret(secret)
    row = next(r for r in ROWS if r["id"] == "locate_epsilon_ignored")
    _, hidden = _judge(row)
    assert hidden.status == "failed" and row["hint"] in hidden.message, hidden.message
    correct = _judge({**row, "new": row["old"]})[1]
    assert correct.status == "passed", correct.message
