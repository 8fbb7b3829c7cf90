"""The feedback sanitiser on its own: a table of hostile fragments and what must not survive, and
the formatting a notebook needs that must."""
from __future__ import annotations

import re

import pytest

from autograder.pipeline.feedback.sanitiser import clean_feedback_html, clean_notebook_html, clean_student_html

HOSTILE = [
    ("<script>alert(1)</script>", r"<script|alert"),
    ("<scr<script>ipt>alert(1)</script>", r"<script"),
    ('<img src=x onerror="alert(1)">', r"onerror|src="),
    ('<body onload="alert(1)">', r"onload"),
    ('<a href="javascript:alert(1)">x</a>', r"javascript"),
    ('<a href="&#106;avascript:alert(1)">x</a>', r"href"),
    ('<a href=" JAVASCRIPT:alert(1)">x</a>', r"href"),
    ('<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>', r"href"),
    ('<a href="vbscript:x">x</a>', r"href"),
    ('<img src="data:text/html;base64,PHNjcmlwdD4=">', r"src="),
    ('<img src="http://example.org/track.png">', r"src="),
    ('<iframe src="http://example.org"></iframe>', r"iframe"),
    ('<iframe srcdoc="<script>alert(1)</script>"></iframe>', r"iframe|script"),
    ('<object data="x.swf"></object><embed src="x.swf">', r"object|embed"),
    ('<form action="http://example.org"><input name="q"><button>go</button></form>', r"form|input|button"),
    ('<meta http-equiv="refresh" content="0;url=http://example.org">', r"meta|refresh"),
    ('<base href="http://example.org/">', r"base"),
    ('<link rel="stylesheet" href="http://example.org/x.css">', r"link"),
    ("<style>.kit-summary { display: none }</style>", r"style|kit-summary"),
    ('<div style="position:fixed;top:0;z-index:99999">Score: 15 / 15</div>', r"position|z-index"),
    ('<div style="background:url(http://example.org/x)">x</div>', r"url\("),
    ('<div style="color:red;position:absolute">x</div>', r"absolute"),
    ('<div class="navbar navbar-fixed-top modal affix">x</div>', r"navbar|modal|affix"),
    ('<div class="kit-summary kit-total">Score: 15 / 15</div>', r"kit-"),
    ('<svg onload="alert(1)"><script>alert(1)</script></svg>', r"svg|script|onload"),
    ('<math><maction actiontype="statusline">x</maction></math>', r"maction|actiontype"),
    # MathML (feedback/math.py writes it for the notebook's TeX; a student may write it by hand)
    ('<math><mrow href="javascript:alert(1)"><mi>x</mi></mrow></math>', r"href|javascript"),
    ('<math><mi xlink:href="javascript:alert(1)" onclick="alert(1)">x</mi></math>', r"xlink|javascript|onclick"),
    ('<math><annotation-xml encoding="text/html"><img src=x onerror=alert(1)></annotation-xml></math>',
     r"annotation|<img|onerror"),
    ('<math><mglyph src="http://x/y.png"></mglyph><mstyle mathbackground="red">x</mstyle></math>',
     r"mglyph|src=|mathbackground"),
    ('<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>', r"<img|onerror|<style"),
    ('<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>', r"<img|onerror|<form"),
    ('<svg><math><mi>x</mi></math></svg>', r"<svg"),
    ('<details open ontoggle="alert(1)"><summary>x</summary></details>', r"ontoggle"),
    ('<video><source onerror="alert(1)"></video>', r"video|onerror"),
    ('<template><script>alert(1)</script></template>', r"template|script"),
    ("<!--<script>alert(1)</script>-->", r"script"),
    ('<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>', r"onerror"),
]


@pytest.mark.parametrize("fragment, forbidden", HOSTILE, ids=[h[0][:40] for h in HOSTILE])
def test_hostile_markup_leaves_nothing_active(fragment, forbidden):
    for clean in (clean_student_html, clean_feedback_html, clean_notebook_html):
        assert not re.search(forbidden, clean(fragment), re.IGNORECASE), clean(fragment)


def test_a_notebooks_formatting_survives():
    fragment = ('<h2 id="Exercise-1">Exercise 1<a class="anchor-link" href="#Exercise-1">¶</a></h2>'
                '<p><strong>bold</strong> <em>it</em> <code>x</code> $\\frac{a}{b}$</p>'
                '<table><tr><th colspan="2">h</th></tr><tr><td style="color:red;text-align:right">1</td></tr></table>'
                '<img src="data:image/png;base64,iVBORw0KGgo=" alt="plot" width="300">'
                '<div class="highlight hl-python"><pre><span class="kn">import</span> numpy</pre></div>'
                '<a href="https://numpy.org">numpy</a>')
    clean = clean_student_html(fragment)
    for kept in ('id="Exercise-1"', 'class="anchor-link"', 'href="#Exercise-1"', "<strong>bold</strong>",
                 "$\\frac{a}{b}$", 'colspan="2"', "color:red", "text-align:right", 'alt="plot"',
                 'src="data:image/png;base64,iVBORw0KGgo="', 'class="highlight hl-python"', 'class="kn"',
                 'href="https://numpy.org"'):
        assert kept in clean, kept


def test_the_kits_own_anchors_survive_only_the_page_level_pass():
    heading = '<span class="nbgrader-label" id="kit-test_forward_propagation">forward_propagation</span>'
    assert 'id="kit-test_forward_propagation"' in clean_notebook_html(heading)
    for taken in (heading, '<h2 id="kit-top">x</h2><a name="kit-test_forward_propagation">y</a>'):
        assert "kit-" not in clean_student_html(taken)


def test_the_mathml_written_for_the_notebooks_tex_passes_whole():
    from autograder.pipeline.feedback.math import tex_to_mathml
    mathml = tex_to_mathml(r"\frac{\partial J}{\partial \theta} = \lim_{\varepsilon \to 0} \sqrt[3]{x^2_i}", display=True)
    cleaned = clean_feedback_html(mathml)
    for element in ("<math", "<mfrac>", "<msub>", "<mroot>", "<mo>", "<mi>", 'display="block"'):
        assert element in cleaned, element
    assert cleaned.count("<") == mathml.count("<")  # no element dropped
    assert "<math" not in clean_student_html(mathml)  # the formgrader's pass keeps no MathML of a student's
