"""The formgrader's submission page (nbgrader's `formgrade` template) with the student's part inert.

Trusted side, in the formgrader server, on a notebook the student wrote. Every piece of student
markup (markdown cells, HTML and markdown outputs) goes through the kit's sanitiser; script and
widget outputs, widget state and isolated-iframe outputs are dropped; a cell whose nbgrader
metadata is not the kit's plain names loses it, and the names the template writes as they are
(the student's id and name, the notebook's) are escaped. The page's own inline scripts are taken from the
same template rendered without any cell, so the policy (csp.py) allows those and nothing a
student wrote, even if the sanitiser missed something.
"""
from __future__ import annotations

import copy
import html
import re

from nbconvert.exporters import HTMLExporter
from nbformat import NotebookNode
from nbconvert.exporters.html import contextfilter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from traitlets import Bool

from ..pipeline.feedback.sanitiser import clean_student_html
from .csp import inline_script_hashes
from .mathml import Formulas

#: What an nbgrader grade_id may look like on this page (it is written into an id attribute).
PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
#: Output types a page never shows: they exist to run code in the browser.
ACTIVE_OUTPUTS = ("application/javascript", "text/javascript", "application/vnd.jupyter.widget-view+json",
                  "application/vnd.jupyter.widget-state+json")
#: Resources nbgrader's formgrade template writes into the page (a script, attributes) unescaped.
WRITTEN_AS_IS = ("student", "first_name", "last_name", "notebook_id", "assignment_id", "notebook_path")
#: nbconvert's MathJax loader and configuration, in the template's head.
MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL)
#: Added to the template's head: the judge's message (a test cell's output) wraps instead of
#: running off to the right; nbgrader's page script waits for MathJax to finish before it sets up
#: scrolling and keyboard shortcuts, and the formulas are MathML already, so it is told at once.
PAGE_HEAD = """<style>
.output_text pre, .output_stream pre, .output_error pre { white-space: pre-wrap; overflow-wrap: anywhere; }
</style>
<script>
window.MathJax = {Hub: {Startup: {signal: {Interest: function (listen) { setTimeout(function () { listen("End"); }, 0); }}}}};
</script>
"""


def _plain_grading(grading) -> bool:
    """nbgrader metadata the template can write into the page as it is: a plain grade_id, numeric points."""
    try:
        float(grading.get("points", 0))
    except (TypeError, ValueError):
        return False
    return bool(PLAIN_NAME.match(str(grading.get("grade_id", ""))))


def inert_copy(nb):
    """A copy of the notebook with what only a browser would run taken out."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        grading = cell.get("metadata", {}).get("nbgrader")
        if grading is not None and not _plain_grading(grading):
            del cell.metadata["nbgrader"]
        for output in cell.get("outputs", []):
            data = output.get("data")
            if isinstance(data, dict):
                for kind in ACTIVE_OUTPUTS:
                    data.pop(kind, None)
            if "metadata" in output:
                output["metadata"] = NotebookNode()  # no `isolated` iframes, no `unconfined`
    return nb


def _kit_head(page: str) -> str:
    """The page with the kit's head: no MathJax loaded from a CDN (formulas are MathML), PAGE_HEAD added."""
    head, found, rest = page.partition("</head>")  # the template's head comes before any cell
    return MATHJAX.sub("", head) + PAGE_HEAD + found + rest if found else page


class _MathHeldOut(IPythonRenderer):
    """nbconvert's markdown renderer with each formula replaced by a placeholder of the page's Formulas."""

    def __init__(self, formulas: Formulas, **options):
        super().__init__(**options)
        self.formulas = formulas

    def block_math(self, body: str) -> str:
        return self.formulas.placeholder(body, block=True)

    def inline_math(self, body: str) -> str:
        return self.formulas.placeholder(body, block=False)

    def latex_environment(self, name: str, body: str) -> str:
        return self.formulas.placeholder(f"\\begin{{{name}}}{body}\\end{{{name}}}", block=True)


class InertFormgradeExporter(HTMLExporter):
    """nbgrader's formgrade exporter with every piece of student markup cleaned by the kit's sanitiser."""

    sanitize_html = Bool(True, help="Always: student markup goes through the kit's sanitiser.")

    def default_filters(self):
        yield from super().default_filters()
        yield ("clean_html", clean_student_html)

    _formulas = Formulas()

    @contextfilter
    def markdown2html(self, context, source):
        """nbconvert's markdown (as HTMLExporter.markdown2html renders it), cleaned (nbgrader's
        formgrade template does not clean markdown cells), its formulas held out."""
        cell = context.get("cell", {})
        renderer = _MathHeldOut(
            self._formulas, escape=False, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options)
        return clean_student_html(MarkdownWithMath(renderer=renderer).render(source))

    def from_notebook_node(self, nb, resources=None, **kw):
        """(html, resources); resources["trusted_scripts"] holds the hashes of the page's own scripts."""
        nb = inert_copy(nb)
        resources = {key: html.escape(value) if key in WRITTEN_AS_IS and isinstance(value, str) else value
                     for key, value in (resources or {}).items()}
        skeleton = copy.deepcopy(nb)
        skeleton.cells = []
        blank, _ = super().from_notebook_node(skeleton, dict(resources or {}), **kw)
        self._formulas = Formulas()
        page, resources = super().from_notebook_node(nb, resources, **kw)
        resources["trusted_scripts"] = inline_script_hashes(_kit_head(blank))
        return self._formulas.put_back(_kit_head(page)), resources
