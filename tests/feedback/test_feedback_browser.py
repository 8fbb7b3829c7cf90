"""Feedback pages in a real browser: an attacking notebook's page runs none of its markup, shows the
judge's score where the student cannot cover it, renders its math offline as MathML with no script
in the page, names exercises, wraps the judge's messages; an unreadable submission still gets a
page that says what to do."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from autograder.judge.sandbox import Limits
from autograder.nbgrader_env import with_python_bin
from autograder.pipeline.gradebook.store import sqlite_url
from autograder.pipeline.steps.config import grading_config
from autograder.pipeline.run.grade import grade

from support.browser import RequestLog, chromium, file_url, offline_page
from support import ROOT

ASSIGNMENT = "gradient_checking"
SAMPLES = ROOT / "samples" / ASSIGNMENT
TITLE = f"{ASSIGNMENT}: feedback"
LOCAL = ("file:", "about:", "data:")


def attacks(url: str) -> list[str]:
    """Markup a student can put in a markdown cell; each piece, if it ever ran, would leave a trace:
    a request to `url`, a changed document.title or a window.pwned marker."""
    return [
        f'<script>document.title = "PWNED"; window.pwned = "script"; fetch("{url}/script")</script>',
        f'<img src="x" onerror="window.pwned = \'onerror\'; fetch(\'{url}/onerror\')"> <img src="{url}/img">',
        f'<a id="jslink" href="javascript:window.pwned=\'jslink\';fetch(\'{url}/jslink\')">click me</a>',
        f'<iframe src="{url}/iframe"></iframe><iframe srcdoc="<script>parent.pwned=1</script>"></iframe>',
        f'<meta http-equiv="refresh" content="0;url={url}/refresh">',
        '<div style="position:fixed;top:0;left:0;width:100%;height:300px;z-index:2147483647;'
        'background:#fff;font-size:48px">Score: 15 / 15 points</div>',
        '<div class="navbar navbar-fixed-top" style="background:#fff;font-size:48px">Score: 15 / 15 points</div>',
        f'<svg onload="fetch(\'{url}/svg-onload\')"><script>fetch("{url}/svg-script")</script></svg>',
        f'<base href="{url}/base/">',
        f'<form action="{url}/form"><input name="q" value="x"><button id="formbutton">go</button></form>',
        f'<object data="{url}/object"></object><embed src="{url}/embed">',
        f'<style>.kit-summary {{ display: none }} body {{ background: url({url}/css) }}</style>',
        f'<div style="background-image: url({url}/style-url)">styled</div>',
        f'<link rel="stylesheet" href="{url}/link.css">',
        f'$\\href{{javascript:fetch("{url}/mathjax")}}{{math link}}$ and '
        '$\\style{position:fixed;top:0;font-size:48px}{\\text{Score: 15 / 15}}$',
        '<h2 id="kit-top">a heading that takes the kit\'s anchor</h2>',
    ]


def hostile_outputs(url: str) -> list:
    """Display outputs of the kinds a Jupyter kernel would record (kernel executor)."""
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" onload="fetch(\'{url}/out-svg\')">'
           f'<script>fetch("{url}/out-svg-script")</script><circle r="5"/></svg>')
    return [
        new_output("display_data", data={"text/html": f'<b>html</b><script>fetch("{url}/out-html")</script>'
                                                      f'<img src=x onerror="fetch(\'{url}/out-onerror\')">',
                                         "text/plain": "html"}),
        new_output("display_data", data={"application/javascript": f'window.pwned="js"; fetch("{url}/out-js")',
                                         "text/plain": "js"}),
        new_output("display_data", data={"image/svg+xml": svg, "text/plain": "svg"}),
        new_output("display_data", data={"text/markdown": f'[x](javascript:fetch("{url}/out-md"))'
                                                          f'<script>fetch("{url}/out-md-script")</script>',
                                         "text/plain": "md"}),
        new_output("display_data", data={"text/html": f'<iframe src="{url}/out-iframe"></iframe>',
                                         "text/plain": "isolated"},
                   metadata={"text/html": {"isolated": True}}),
    ]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """An attacker (the dW2 bug: the judge gives it 12 / 15), an honest student and an unreadable file."""
    submissions = tmp_path_factory.mktemp("submissions")
    with RequestLog() as log:
        yield from _graded_batch(tmp_path_factory, submissions, log)


def _graded_batch(tmp_path_factory, submissions, log):
    nb = nbformat.read(SAMPLES / "bug_backprop_dW2.ipynb", as_version=4)
    markup = attacks(log.url)
    nb.cells[1:1] = [new_markdown_cell("\n\n".join(markup[:8]))]
    nb.cells[7:7] = [new_markdown_cell("\n\n".join(markup[8:]))]
    nbformat.write(nb, submissions / "attacker.ipynb")
    shutil.copy(SAMPLES / "perfect.ipynb", submissions / "honest.ipynb")
    (submissions / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    out = tmp_path_factory.mktemp("graded")
    run = grade(submissions, ASSIGNMENT, out, jobs=2, limits=Limits(wall_seconds=30), progress=False)
    # What a kernel would have recorded in a cell's outputs: the feedback of the attacker's
    # autograded notebook is rendered again with them (nbgrader's own generate_feedback).
    autograded = out / "autograded" / "attacker" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    graded_nb = nbformat.read(autograded, as_version=4)
    graded_nb.cells[2].outputs = hostile_outputs(log.url)
    nbformat.write(graded_nb, autograded)
    config = grading_config(out, sqlite_url(out / "gradebook.db"), Limits())
    result = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config).generate_feedback(
        ASSIGNMENT, "attacker", force=True)
    assert result["success"], result.get("error")
    yield run, log


def assert_math_laid_out(page) -> None:
    """The notebook's formulas are MathML the browser lays out: many <math> elements, each
    fraction's numerator drawn above its denominator, and no TeX source left in the text."""
    assert page.locator("#kit-notebook math").count() > 20
    fractions = page.evaluate("""() => [...document.querySelectorAll('#kit-notebook mfrac')].map(f => {
        const [top, bottom] = [...f.children].map(c => c.getBoundingClientRect());
        return top.height > 0 && bottom.height > 0 && top.bottom <= bottom.top + 1; })""")
    assert len(fractions) > 5 and all(fractions), fractions
    text = page.locator("#kit-notebook").inner_text()
    assert "\\frac" not in text and "\\partial" not in text and "$$" not in text


def page_of(run, student):
    return run.out / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"


def judge_total(run, student) -> str:
    rows = [r for r in run.rows if r.student_id == student]
    return f"{sum(r.score for r in rows):g} / {sum(r.max_score for r in rows):g} points"


def test_attacking_markup_is_inert_and_the_score_shown_is_the_judges(batch):
    run, log = batch
    assert judge_total(run, "attacker") == "12 / 15 points"
    html = page_of(run, "attacker").read_text(encoding="utf-8")
    assert "<script" not in html and "script-src 'none'" in html.replace("&#39;", "'")
    assert not re.search(r"<m[a-z]*\s[^>]*\s(href|xlink:href|actiontype|on[a-z]+)\s*=", html.split("<main", 1)[1], re.I)
    assert not re.search(r"""(href|src|action|data)\s*=\s*["']?\s*javascript:""", html, re.I)
    assert not re.search(r"<(iframe|object|embed|form|base|svg|meta http-equiv=\"refresh)", html, re.I)
    assert not re.search(r"\son[a-z]+\s*=", html.split("<main", 1)[1], re.I)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1000, "height": 700})
        page = context.new_page()
        attempted = []
        page.on("request", lambda request: attempted.append(request.url)
                if not request.url.startswith(LOCAL) else None)
        url = file_url(page_of(run, "attacker"))
        page.goto(url)
        if page.locator("#jslink").count():
            page.locator("#jslink").click()
        if page.locator("#formbutton").count():
            page.locator("#formbutton").click()
        page.wait_for_timeout(1500)  # a meta refresh or a late handler would have fired by now
        assert page.url == url, "the page navigated"
        assert page.title() == TITLE
        assert page.evaluate("() => window.pwned === undefined && document.querySelectorAll('iframe').length === 0")
        assert len(page.frames) == 1
        assert attempted == [] and log.requests == [], (attempted, log.requests)
        # The kit's summary is shown, first and uncovered, with the judge's total.
        page.evaluate("() => scrollTo(0, 0)")
        total = page.locator(".kit-total")
        assert total.is_visible() and total.inner_text() == "Score: 12 / 15 points"
        covered = page.evaluate("""() => {
            const summary = document.querySelector('.kit-summary').getBoundingClientRect();
            const hits = [];
            for (let x = summary.left + 5; x < summary.right; x += 40)
                for (let y = summary.top + 5; y < Math.min(summary.bottom, innerHeight); y += 20) {
                    const el = document.elementFromPoint(x, y);
                    if (!el || !el.closest('.kit-summary')) hits.push([x, y, el && el.outerHTML.slice(0, 80)]);
                }
            return hits; }""")
        assert covered == []
        # Student text claiming full marks stays inside the student's box.
        fakes = page.evaluate("""() => {
            const box = document.querySelector('#kit-notebook').getBoundingClientRect();
            return [...document.querySelectorAll('body *')].filter(e => e.children.length === 0
                && e.tagName !== 'SCRIPT' && /15 \\/ 15/.test(e.textContent)).map(e => {
                    const r = e.getBoundingClientRect();
                    return [e.closest('#kit-notebook') !== null, r.width === 0 || r.top >= box.top - 1]; }); }""")
        assert fakes and all(inside and below for inside, below in fakes), fakes
        assert page.evaluate("() => getComputedStyle(document.querySelector('#kit-notebook')).contain").find("paint") >= 0
        context.close()


def test_feedback_renders_math_offline_names_exercises_and_wraps_messages(batch):
    run, _ = batch
    with chromium() as browser, offline_page(browser, viewport={"width": 800, "height": 700}) as page:
        page.goto(file_url(page_of(run, "attacker")))
        assert page.blocked == []
        assert page.evaluate("() => document.scripts.length") == 0
        assert_math_laid_out(page)
        items = page.locator(".kit-toc li").all_inner_texts()
        assert len(items) == 9 and items[0].startswith("forward_propagation — 1 / 1 point")
        assert any(i.startswith("backward_propagation_n — 0 / 3 points") for i in items)
        heading = page.locator("#kit-test_backward_propagation_n").inner_text()
        assert heading == "backward_propagation_n — 0 / 3 points"
        assert "Test cell" not in page.locator("body").inner_text()
        message = page.locator(".kit-failed .kit-message")
        assert "dW2" in message.inner_text()
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
        for selector in (".kit-message", "#kit-notebook .output_error pre"):
            assert page.evaluate(f"""() => [...document.querySelectorAll({json.dumps(selector)})]
                .every(e => e.scrollWidth <= e.clientWidth + 1)"""), selector


def test_an_unreadable_submission_gets_a_page_that_says_what_to_do(batch):
    run, _ = batch
    path = page_of(run, "broken")
    assert path.is_file()
    row = next(r for r in run.rows if r.student_id == "broken")
    with chromium() as browser, offline_page(browser) as page:
        page.goto(file_url(path))
        assert page.locator(".kit-total").inner_text() == "Score: 0 / 15 points"
        problem = page.locator(".kit-problem").inner_text()
        assert row.message in problem and "not valid JSON" in problem
        assert "hand it in again" in page.locator(".kit-advice").inner_text()
        assert page.locator(".kit-toc li").count() == 9 and page.locator("script").count() == 0


def test_nbgraders_own_generate_feedback_in_out_writes_the_kits_page(batch):
    run, _ = batch
    nbgrader = shutil.which("nbgrader", path=str(Path(sys.executable).parent))
    result = subprocess.run([nbgrader, "generate_feedback", ASSIGNMENT, "--student", "honest", "--force"],
                            cwd=run.out, capture_output=True, text=True, env=with_python_bin())
    assert result.returncode == 0, result.stderr[-2000:]
    html = page_of(run, "honest").read_text(encoding="utf-8")
    assert 'class="kit-summary"' in html and "Content-Security-Policy" in html
    assert "Score: <strong>15 / 15 points</strong>" in html and "HIDDEN TESTS" not in html
