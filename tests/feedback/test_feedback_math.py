"""The notebooks' TeX as MathML (feedback/math.py): every formula of every release converts; TeX that
cannot be converted is shown as code, escaped, never dropped."""
import json

import pytest

from autograder.pipeline.feedback.math import MAX_TEX, latex_output_to_html, markdown_to_html, tex_to_mathml
from autograder.pipeline.feedback.sanitiser import clean_feedback_html

from support import ROOT

RELEASES = sorted((ROOT / "release").glob("*/*.ipynb"))


@pytest.mark.parametrize("notebook", RELEASES, ids=[p.parent.name for p in RELEASES])
def test_every_formula_of_a_release_becomes_mathml(notebook):
    cells = [c for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "markdown"]
    html = "".join(clean_feedback_html(markdown_to_html("".join(c["source"]))) for c in cells)
    assert html.count("<math") > 10
    assert "kit-tex" not in html and "$" not in html and "\\frac" not in html


@pytest.mark.parametrize("tex", [r"\frac{1}{", "x" * (MAX_TEX + 1)], ids=["unbalanced", "too_long"])
def test_tex_that_cannot_be_converted_is_shown_as_code(tex):
    html = tex_to_mathml("<b>" + tex)
    assert html.startswith('<code class="kit-tex">$') and "&lt;b&gt;" in html and "<math" not in html


def test_a_latex_display_output_becomes_mathml():
    assert 'display="block"' in latex_output_to_html("$$x^2$$")
    assert 'display="inline"' in latex_output_to_html("$x$")
