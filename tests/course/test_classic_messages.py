"""The classic assignment's messages, table-driven (assignments/gradient_checking/messages.toml):
for each known mistake the exact hint the hidden checks give, or that they give none; and the
hidden checks are at least as strict as the visible tests, over that table and the planted bugs.

Everything runs in this process on the source notebook's functions (a few seconds).
"""
from __future__ import annotations

import contextlib
import importlib
import io
import sys

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from autograder.course import graders, manifest, notebook
from autograder.grading.results import run_check
from autograder.grading.subject import InProcessSubject

from support import ROOT
from support.submissions import planted_rows, row_edits
from test_assignments import apply_edits, inside, notebook_namespace, source_of

ASSIGNMENT = "gradient_checking"
FOLDER = ROOT / "assignments" / ASSIGNMENT
ROWS = tomllib.loads((FOLDER / "messages.toml").read_text(encoding="utf-8"))["mistake"]
PLANTED = {row["id"]: row for row in planted_rows(ASSIGNMENT)}


def known_hints() -> list[str]:
    """Every phrase that names a mistake, from the engine's probes and this assignment's checks."""
    from autograder.student.checker_probes import HINTS
    graders.load(ASSIGNMENT, ROOT)
    checks = importlib.import_module(f"{graders.package(ROOT)}.{ASSIGNMENT}.grader.checks")
    return [*HINTS.values(), *checks.UNUSED.values(), "It looks like"]


def edits_of(row: dict) -> list[dict]:
    return row_edits(PLANTED[row["planted"]]) if "planted" in row else row_edits(row)


def visible_call(cell_source: str) -> str:
    return cell_source.split("### BEGIN HIDDEN TESTS")[0]


def grade_both(edits: list[dict]) -> tuple[dict, dict]:
    """(visible, hidden): {function: failure message or None} with the edits applied."""
    namespace, source = notebook_namespace(ASSIGNMENT, ROOT), source_of(ASSIGNMENT, ROOT)
    grader, tolerances = graders.load(ASSIGNMENT, ROOT), manifest.tolerances_for(ASSIGNMENT, ROOT)
    tests = {c.metadata["nbgrader"]["grade_id"][len("test_"):]: visible_call(c.source)
             for c in source.cells if notebook.is_test_cell(c)}
    saved = dict(namespace)
    visible, hidden = {}, {}
    try:
        with inside(ROOT / "source" / ASSIGNMENT), contextlib.redirect_stdout(io.StringIO()):
            apply_edits(edits, source, namespace)
            for function, test in tests.items():
                try:
                    exec(compile(test, f"<test_{function}>", "exec"), namespace)
                    visible[function] = None
                except Exception as exc:  # noqa: BLE001 (any failure of the visible test counts)
                    # "did not run" (a function it needs fails its own test) rejects nothing
                    visible[function] = None if "did not run" in str(exc) else f"{type(exc).__name__}: {exc}"
            subject = InProcessSubject(namespace, graders.resolve)
            for function in grader.checks:
                result = run_check(function, subject, tolerances, grader.checks)
                hidden[function] = None if result.passed else result.message
    finally:
        namespace.clear()
        namespace.update(saved)
    return visible, hidden


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_each_known_mistake_gets_its_hint_or_none(row):
    visible, hidden = grade_both(edits_of(row))
    lost = row["lost"]
    assert {f for f, m in hidden.items() if m} == ({lost} if lost else set()), hidden
    assert {f for f, m in visible.items() if m} <= {f for f, m in hidden.items() if m}, (visible, hidden)
    if not lost:
        return
    message = hidden[lost]
    if row["hint"]:
        hints = row["hint"] if isinstance(row["hint"], list) else [row["hint"]]
        assert any(hint in message for hint in hints), message
    else:
        assert not [h for h in known_hints() if h in message], message
    if "visible" in row:
        assert visible[lost] and row["visible"] in visible[lost], visible[lost]
    else:
        assert visible[lost] is None, visible[lost]


@pytest.mark.parametrize("row", list(PLANTED.values()), ids=list(PLANTED))
def test_hidden_checks_reject_whatever_the_visible_tests_reject(row):
    visible, hidden = grade_both(row_edits(row))
    assert {f for f, m in visible.items() if m} <= {f for f, m in hidden.items() if m}, (visible, hidden)


def test_the_judge_names_a_cell_that_does_not_compile_and_a_refused_call_plainly():
    """A function whose cell has an IndentationError is reported with that line, not as "not
    defined"; a call a trusted stand-in refuses is reported without the judge's own class names."""
    from autograder.judge.judge import judge_notebook
    from test_assignments import LIMITS
    from support.submissions import load_source, plant

    nb = plant(load_source(), "gradient_check_n", "    grad = gradients_to_vector(gradients)\n",
               "    grad = gradients_to_vector(gradients)\n      extra = 1\n")
    nb = plant(nb, "gradient_check", "J_plus = forward_propagation(x, theta_plus)",
               "J_plus = forward_propagation(x, np.ones((3, 3)))")
    judged = judge_notebook(nb, ASSIGNMENT, ROOT / "source" / ASSIGNMENT, LIMITS,
                            manifest.tolerances_for(ASSIGNMENT, ROOT))
    results = {r.function: r for r in judged.results}
    message = results["gradient_check_n"].message
    assert "`gradient_check_n`'s cell does not compile: line" in message and "IndentationError" in message, message
    assert "not defined" not in message
    refused = results["gradient_check"].message
    assert "the call forward_propagation(...) was refused" in refused and "_DependencyError" not in refused, refused
    assert results["gradient_check"].status == "error"
    assert {f for f, r in results.items() if not r.passed} == {"gradient_check", "gradient_check_n"}


def test_an_untouched_notebook_fails_each_test_cell_with_one_short_line(tmp_path):
    """Restart & Run All on the notebook as handed out: every test cell ends in an error (so
    `nbgrader validate` reports it) whose traceback is one line, "<function>: not implemented
    yet" where the function is the cell's own."""
    import shutil

    import nbformat
    from nbclient import NotebookClient

    folder = tmp_path / ASSIGNMENT
    shutil.copytree(ROOT / "release" / ASSIGNMENT, folder)
    nb = nbformat.read(folder / f"{ASSIGNMENT}.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    test_cells = [c for c in nb.cells if notebook.is_test_cell(c)]
    assert test_cells
    for cell in test_cells:
        function = cell.metadata["nbgrader"]["grade_id"][len("test_"):]
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert len(errors) == 1 and len(errors[0].traceback) == 1, (function, errors)
        line = errors[0].traceback[0]
        assert f"{function}: not implemented yet" in line or "did not run" in line, line


#: A course secret whose fourth network draw has a dead second layer (db2 = 0): flipping db2's
#: sign there changed nothing, so gradient_check_n's print_msg case was a correct one and a
#: print_msg branch that breaks only on a mistake went unnoticed.
DEAD_LAYER_SECRETS = ["34dedc795356feb203f647a8312923763f8143d33d05e13aefc5b657feb2ab43",
                      "90cd70b138bc9cf4cef539a2dd10bacbfa1888db295fd59334a5f506f204656d"]


@pytest.mark.parametrize("secret", DEAD_LAYER_SECRETS)
def test_the_print_msg_case_is_a_bug_the_check_sees_under_any_secret(secret, pin_secret):
    pin_secret(secret)
    checks = graders.module(ASSIGNMENT, "checks")
    reference = graders.module(ASSIGNMENT, "reference")
    cases = graders.module(ASSIGNMENT, "cases")
    tol = manifest.tolerances_for(ASSIGNMENT, ROOT)
    label, case, gradients, eps, _, _, _ = checks.checker_cases(tol)[-1]
    assert "db2 of the wrong sign" in label
    assert reference.gradient_check_n(case.parameters, gradients, case.X, case.Y, eps) > tol.threshold * cases.SAFETY_MARGIN
    row = next(r for r in ROWS if r["id"] == "gcn_print_msg_breaks")
    visible, hidden = grade_both(edits_of(row))
    assert {f for f, m in hidden.items() if m} == {"gradient_check_n"}, hidden
    assert row["hint"] in hidden["gradient_check_n"]
