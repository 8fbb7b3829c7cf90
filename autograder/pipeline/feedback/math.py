"""TeX in a notebook's markdown, written as MathML when the feedback page is written (trusted side).

Browsers lay MathML out natively (MathML Core: Chromium, Firefox, Safari), so a page needs no
script and no MathJax beside it: it is one file that renders its math offline, and its policy
forbids scripts altogether. latex2mathml converts; what it writes is student markup like any
other and passes the sanitiser's MathML allowlist (sanitiser.MATH_TAGS). TeX it cannot
convert, or longer than MAX_TEX, is shown as code, never dropped.
"""
from __future__ import annotations

from html import escape

from latex2mathml.converter import convert
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

#: Longer TeX is shown as code: a formula in a notebook is a few hundred characters, and the
#: converter's time and nesting grow with its input.
MAX_TEX = 4000


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """A <math> element for tex, or the TeX as code when it cannot be converted."""
    if len(tex) <= MAX_TEX and tex.strip():
        try:
            return convert(tex.strip(), display="block" if display else "inline")
        except Exception:  # noqa: BLE001 - the converter's errors are many and undocumented; any means "show the TeX"
            pass
    delimiter = "$$" if display else "$"
    return f'<code class="kit-tex">{escape(delimiter + tex + delimiter, quote=False)}</code>'


class MathMLRenderer(IPythonRenderer):
    """nbconvert's markdown renderer, with math written as MathML rather than left for MathJax."""

    def block_math(self, body: str) -> str:
        return tex_to_mathml(body, display=True)

    def inline_math(self, body: str) -> str:
        return tex_to_mathml(body)

    def latex_environment(self, name: str, body: str) -> str:
        return tex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)


def markdown_to_html(source: str, **renderer_options) -> str:
    """Markdown to HTML as nbconvert's HTMLExporter.markdown2html does, math as MathML."""
    return MarkdownWithMath(renderer=MathMLRenderer(escape=False, **renderer_options)).render(source)


def latex_output_to_html(latex: str) -> str:
    """A text/latex display output ("$$x^2$$", "$x$", or bare TeX) as MathML."""
    text = latex.strip()
    for opening, closing, display in (("$$", "$$", True), ("\\[", "\\]", True), ("$", "$", False),
                                      ("\\(", "\\)", False)):
        if len(text) > len(opening) + len(closing) and text.startswith(opening) and text.endswith(closing):
            return tex_to_mathml(text[len(opening):-len(closing)], display)
    return tex_to_mathml(text, display=True)
