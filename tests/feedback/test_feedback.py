"""What students get back: the trusted pipeline grades the planted-bug table exactly, and no
feedback file shows a hidden test or a hidden case's reference values."""
from __future__ import annotations

import re

import nbformat
import numpy as np
import pytest

from autograder.course import graders
from autograder.course.manifest import available
from autograder.judge.sandbox import Limits
from autograder.pipeline.run.grade import grade

from support import ROOT
from support.submissions import build, expected_lost, planted_rows

ASSIGNMENT = "gradient_checking"
ROWS = planted_rows(ASSIGNMENT)
cases, checks, dependencies, reference = (graders.module(ASSIGNMENT, name)
                                          for name in ("cases", "checks", "dependencies", "reference"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every planted-bug row as a student, graded once by `autograder grade` (the judge decides)."""
    folder = tmp_path_factory.mktemp("submissions")
    for row in ROWS:
        nbformat.write(build(row, ASSIGNMENT), folder / f"{row['id']}.ipynb")
    out = tmp_path_factory.mktemp("graded")
    return grade(folder, ASSIGNMENT, out, jobs=2, limits=Limits(wall_seconds=20), progress=False)


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_the_judge_takes_points_only_from_the_buggy_exercise(graded, row):
    statuses = {r.exercise: r.status for r in graded.rows if r.student_id == row["id"]}
    lost = {"test_" + f for f in expected_lost(row)}
    assert {e for e, s in statuses.items() if s != "passed"} == lost, statuses


def _numbers(values) -> set[str]:
    out = set()
    for value in np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel():
        for form in (".6g", ".10g", ".4g"):
            out.add(format(float(value), form))
    return out


def hidden_reference_strings() -> set[str]:
    """Inputs and answers of the hidden cases, as the messages would print them."""
    found = set()
    for x, theta, label in checks.ONE_D_CASES:
        if not label.startswith("x="):
            found |= _numbers(x) | _numbers(theta) | _numbers(reference.forward_propagation(x, theta))
    for label, x, theta, eps, (fwd, bwd), public, *_ in checks.GRADIENT_CHECK_CASES:
        if not public:
            found |= _numbers(reference.gradient_check(x, theta, eps, dependencies.resolve(fwd), dependencies.resolve(bwd)))
    for case in cases.network_cases():
        if case.public:
            continue
        cost, cache = reference.forward_propagation_n(case.X, case.Y, case.parameters)
        found |= _numbers(cost) | _numbers(case.X) | _numbers(cache[9])
        found |= _numbers(reference.gradients_to_vector(reference.backward_propagation_n(case.X, case.Y, cache)))
    for seed in (7, 8, 9, 10):
        found |= _numbers(reference.dictionary_to_vector(checks.random_parameters(seed))[0])
    return found


def _significant_digits(number: str) -> int:
    """How many significant digits a printed number has: "0.403" has 3, "-1.205e-05" has 4.

    Messages print public-case figures to 3 significant digits; a hidden value of 3 digits shares
    that form with one number in a thousand by chance (the course secret is new in every clone),
    while a leaked hidden value shows at least 4 of its digits."""
    mantissa = number.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa.rstrip("0")) if mantissa else 0


def public_text() -> str:
    """Everything a student legitimately sees: the release notebook and its helper modules."""
    folder = ROOT / "release" / ASSIGNMENT
    return "".join(p.read_text(encoding="utf-8") for p in folder.iterdir() if p.suffix in (".py", ".ipynb"))


def hidden_test_lines() -> set[str]:
    source = nbformat.read(ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    lines = set()
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            if inside and line.strip():
                lines.add(line.strip())
            if "END HIDDEN TESTS" in line:
                inside = False
    return lines


def any_standing_alone(numbers: set[str], text: str) -> bool:
    """Whether one of numbers occurs in text with no digit or point before it and no digit after.

    Exactly when the pattern below finds anything, but a str.find per number: the regular
    expression tries its 1,400 alternatives at every character (seconds a page, 40 pages)."""
    for number in numbers:
        start = text.find(number)
        while start != -1:
            before, end = text[start - 1:start], start + len(number)
            if not (before.isdecimal() or before == ".") and not text[end:end + 1].isdecimal():
                return True
            start = text.find(number, start + 1)
    return False


def test_feedback_shows_no_hidden_test_and_no_hidden_reference_value(graded):
    public = public_text()
    secrets = {s for s in hidden_reference_strings() if _significant_digits(s) >= 4 and s not in public}
    lines = hidden_test_lines()
    assert lines and len(secrets) > 100
    files = sorted((graded.out / "feedback").rglob("*.html"))
    assert len(files) == len(ROWS)
    # One pass a page: a hidden number standing alone (longest first, so "0.4031" is not read as "0.403").
    hidden = re.compile(r"(?<![\d.])(" + "|".join(map(re.escape, sorted(secrets, key=len, reverse=True))) + r")(?![\d])")
    for path in files:
        html = path.read_text(encoding="utf-8")
        text = re.sub(r"<[^>]+>", " ", html)
        for line in lines:
            assert line not in text and line not in html, f"{path}: hidden test line {line!r}"
        leaked = sorted(set(hidden.findall(text))) if any_standing_alone(secrets, text) else []
        assert not leaked, f"{path.parent.parent.name}: hidden values {leaked[:5]} in its feedback"


def test_feedback_localises_the_bug_in_students_terms(graded):
    html = (graded.out / "feedback" / "bpn_dW2_doubled" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "dW2: relative difference" in html and "agree" in html
    html = (graded.out / "feedback" / "gcn_one_sided" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "one-sided difference" in html


@pytest.mark.parametrize("assignment", available())
def test_the_workers_feedback_warm_up_renders_each_release(assignment):
    """Each worker renders the release once before its first student (so forked renders start
    warm); a template change that breaks it would only cost speed silently, so it must not fail."""
    from autograder.pipeline.feedback import exporter
    for notebook in sorted((ROOT / "release" / assignment).glob("*.ipynb")):
        exporter.warm_up(notebook)


def test_highlighted_code_is_remembered_from_the_warm_up_and_unchanged():
    """The warm-up highlights the release's code once; a student's page reuses it, byte for byte
    what nbconvert's own filter makes (the magics language, the one metadata it reads, included)."""
    import nbformat
    from nbconvert.filters.highlight import Highlight2HTML

    from autograder.pipeline.feedback import exporter
    notebook = ROOT / "release" / "gradient_checking" / "gradient_checking.ipynb"
    exporter.HIGHLIGHTED.clear()
    exporter.warm_up(notebook)
    sources = [c.source for c in nbformat.read(str(notebook), as_version=4).cells if c.cell_type == "code"]
    remembered = {key[-1] for key in exporter.HIGHLIGHTED}
    assert set(sources) <= remembered
    ours, theirs = exporter.RememberingHighlight(), Highlight2HTML()
    for source in sources[:5] + ["", "print(1)"]:
        assert ours(source, "ipython3") == theirs(source, "ipython3")
    bash = {"magics_language": "bash"}
    assert ours("ls -l $HOME", "ipython3", bash) == theirs("ls -l $HOME", "ipython3", bash)
    assert ours("ls -l $HOME", "ipython3", bash) != ours("ls -l $HOME", "ipython3")


def test_cleaned_and_rendered_markdown_is_remembered_and_unchanged():
    """Pieces the warm-up cleaned or rendered come back byte for byte what a fresh sanitiser and
    nbconvert's own markdown filter make; a cell with attachments is never taken from memory."""
    from nbconvert.exporters import HTMLExporter

    from autograder.pipeline.feedback import exporter, sanitiser
    hostile = '<img src=x onerror=alert(1)><a href="javascript:alert(2)">x</a><p style="position:fixed">y</p>'
    sanitiser.CLEANED.clear()
    fresh = {piece: sanitiser.clean_student_html(piece) for piece in (hostile, "<b>bold</b>")}  # made, then kept
    for piece in [hostile, "<b>bold</b>", hostile]:  # each comes from memory
        assert sanitiser.clean_student_html(piece) == fresh[piece]
    assert sanitiser.CLEANED[hostile] == fresh[hostile] and "onerror" not in fresh[hostile]

    ours = exporter.FeedbackExporter()

    class theirs:  # nbconvert's markdown filter with the kit's one change: math as MathML (feedback/math.py)
        @staticmethod
        def markdown2html(context, source):
            from autograder.pipeline.feedback.math import markdown_to_html
            return markdown_to_html(source, attachments=context["cell"].get("attachments", {}),
                                    embed_images=HTMLExporter().embed_images,
                                    path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                                    anchor_link_text=ours.anchor_link_text,
                                    exclude_anchor_links=ours.exclude_anchor_links)
    markdown = "# Title\n\nThe two-sided difference $\\frac{J(\\theta+\\varepsilon)-J(\\theta-\\varepsilon)}{2\\varepsilon}$"
    context = {"cell": {"source": markdown}, "resources": {}}
    for _ in range(2):
        assert ours.markdown2html(context, markdown) == theirs.markdown2html(context, markdown)
    assert any(key[0] == markdown for key in exporter.MARKDOWN)
    assert "<mfrac>" in ours.markdown2html(context, markdown) and "\\frac" not in ours.markdown2html(context, markdown)
    # Another student's page, in a folder of its own, gets what the warm-up rendered.
    for folder in ("feedback/ada/gradient_checking", "feedback/bob/gradient_checking"):
        elsewhere = {"cell": {"source": markdown}, "resources": {"metadata": {"path": folder}}}
        before = len(exporter.MARKDOWN)
        assert ours.markdown2html(elsewhere, markdown) == theirs.markdown2html(elsewhere, markdown)
        assert len(exporter.MARKDOWN) == before
    attached = {"cell": {"source": "![a](attachment:a.png)",
                         "attachments": {"a.png": {"image/png": "iVBORw0KGgo="}}}, "resources": {}}
    before = len(exporter.MARKDOWN)
    assert ours.markdown2html(attached, "![a](attachment:a.png)") == theirs.markdown2html(attached, "![a](attachment:a.png)")
    assert len(exporter.MARKDOWN) == before
