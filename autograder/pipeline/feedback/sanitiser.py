"""Make the student's part of a feedback page inert: an allowlist HTML sanitiser (nh3).

Trusted side: runs in the grading worker on markup the student wrote (markdown cells, display
outputs, cell tags). Whatever survives is plain formatting: no script, no event handler, no
javascript:/data: link, no frame, object, form, meta or base, no style that positions or loads
anything, no class that the page's own stylesheets turn into an overlay, and no id that could
take over the kit's anchors (those begin with `kit-`). Images only as data:image/png, jpeg, gif
or svg+xml (an SVG shown as an <img> runs no script and loads nothing). Math as MathML
(feedback/math.py): its layout elements and attributes only (MATH_TAGS, MATH_ATTRIBUTES).

nh3 (the Rust ammonia sanitiser) rather than bleach: bleach is deprecated upstream and parses
with html5lib in Python; nh3 is maintained, parses like a browser (html5ever), filters style
properties itself, and is fast enough to run twice over a large notebook.
"""
from __future__ import annotations

import re

import nh3
from pygments.token import STANDARD_TYPES

from .memo import remembered

#: Elements a notebook's markdown and rich outputs need; everything else is dropped (text kept).
TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del",
    "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "u", "ul", "var", "wbr",
}
#: MathML Core's presentation elements, which feedback/math.py writes for the notebook's TeX: no
#: <maction> (actiontype tricks), no <mglyph> (loads an image), no <annotation-xml> (holds HTML),
#: no <semantics> (only there to carry annotations).
MATH_TAGS = {
    "math", "merror", "mfrac", "mi", "mmultiscripts", "mn", "mo", "mover", "mpadded", "mphantom", "mprescripts",
    "mroot", "mrow", "ms", "mspace", "msqrt", "mstyle", "msub", "msubsup", "msup", "mtable", "mtd", "mtext",
    "mtr", "munder", "munderover", "menclose", "none",
}
#: MathML attributes that shape the layout only: never href, xlink:*, src, an event handler,
#: actiontype, or a colour or background (mathcolor, mathbackground).
_TOKEN_ATTRIBUTES = {"mathvariant", "dir"}
MATH_ATTRIBUTES = {
    "math": {"display"},
    "mi": _TOKEN_ATTRIBUTES, "mn": _TOKEN_ATTRIBUTES, "mtext": _TOKEN_ATTRIBUTES, "ms": _TOKEN_ATTRIBUTES,
    "mo": _TOKEN_ATTRIBUTES | {"stretchy", "fence", "separator", "form", "accent", "lspace", "rspace", "largeop",
                               "movablelimits", "symmetric", "minsize", "maxsize"},
    "mover": {"accent"}, "munder": {"accentunder"}, "munderover": {"accent", "accentunder"},
    "mfrac": {"linethickness"},
    "mtable": {"columnspacing", "rowspacing", "columnalign", "rowalign", "columnlines", "rowlines", "frame",
               "displaystyle"},
    "mtr": {"columnalign", "rowalign"}, "mtd": {"columnalign", "rowalign", "columnspan", "rowspan"},
    "mstyle": {"displaystyle", "scriptlevel"},
    "mpadded": {"width", "height", "depth"}, "mspace": {"width", "height", "depth"},
    "menclose": {"notation"},
}
#: Elements removed together with everything inside them.
DROP_WITH_CONTENT = {
    "script", "style", "template", "noscript", "iframe", "frame", "frameset", "object", "embed",
    "applet", "svg", "math", "textarea", "select", "option", "title", "xmp", "noembed", "noframes",
    "head", "canvas", "audio", "video", "button",
}
ATTRIBUTES = {
    "*": {"class", "id", "title", "lang", "dir", "style"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start", "type"},
    "col": {"span"},
    "colgroup": {"span"},
    **MATH_ATTRIBUTES,
}
#: Style properties that change how text looks, never where a box sits or what it loads.
STYLE_PROPERTIES = {
    "color", "background-color", "font-weight", "font-style", "text-align", "text-decoration",
    "vertical-align", "white-space",
}
IMAGE_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|svg\+xml);base64,[A-Za-z0-9+/=\s]*$", re.IGNORECASE)
SAFE_LINK = re.compile(r"^(https?://|mailto:|#)", re.IGNORECASE)
KIT_ID = re.compile(r"^\s*kit-", re.IGNORECASE)

#: Classes the markdown renderer, the syntax highlighter and the ANSI converter produce.
STUDENT_CLASSES = {t for t in STANDARD_TYPES.values() if t} | {"anchor-link", "highlight", "kit-tex"}
STUDENT_CLASS_PATTERNS = re.compile(r"^(ansi-[a-z-]+|hl-[A-Za-z0-9_+-]+|language-[A-Za-z0-9_+-]+)$")
#: Classes nbconvert's and the kit's own templates put around the cells.
TEMPLATE_CLASSES = {
    "cell", "border-box-sizing", "code_cell", "text_cell", "rendered", "input", "output",
    "output_wrapper", "output_area", "prompt", "input_prompt", "output_prompt", "inner_cell",
    "input_area", "output_subarea", "output_stream", "output_stdout", "output_stderr", "output_text",
    "output_error", "output_execute_result", "output_html", "output_markdown", "output_png",
    "output_jpeg", "output_svg", "output_latex", "output_javascript", "rendered_html",
    "text_cell_render", "panel", "panel-primary", "panel-heading", "panel-body", "panel-footer",
    "nbgrader_cell", "nbgrader-label", "kit-top-link", "kit-cell-heading", "unconfined", "comment",
}
TEMPLATE_CLASS_PATTERNS = re.compile(r"^(celltag_[A-Za-z0-9_-]+|kit-(passed|failed|error|timeout|missing|graded))$")


def _attribute_filter(allow_classes, allow_class, allow_kit_ids: bool):
    def keep(tag: str, attribute: str, value: str):
        if attribute == "class":
            kept = [c for c in value.split() if c in allow_classes or allow_class.match(c)]
            return " ".join(kept) or None
        if attribute in ("id", "name") and KIT_ID.match(value) and not allow_kit_ids:
            return None
        if tag == "img" and attribute == "src":
            return value if IMAGE_DATA_URL.match(value) else None
        if tag == "a" and attribute == "href":
            return value if SAFE_LINK.match(value.strip()) else None
        return value
    return keep


def _cleaner(classes, class_patterns, allow_kit_ids: bool, math: bool = False) -> nh3.Cleaner:
    """math: MathML's layout elements pass (MATH_TAGS); otherwise <math> goes with its content."""
    return nh3.Cleaner(
        tags=TAGS | (MATH_TAGS if math else set()),
        clean_content_tags=DROP_WITH_CONTENT - ({"math"} if math else set()),
        attributes=ATTRIBUTES if math else {tag: names for tag, names in ATTRIBUTES.items() if tag not in MATH_TAGS},
        attribute_filter=_attribute_filter(classes, class_patterns, allow_kit_ids),
        url_schemes={"http", "https", "mailto", "data"}, filter_style_properties=STYLE_PROPERTIES,
        link_rel="noopener noreferrer nofollow", strip_comments=True)


_STUDENT = _cleaner(STUDENT_CLASSES, STUDENT_CLASS_PATTERNS, allow_kit_ids=False)
_STUDENT_WITH_MATH = _cleaner(STUDENT_CLASSES, STUDENT_CLASS_PATTERNS, allow_kit_ids=False, math=True)
_NOTEBOOK = _cleaner(STUDENT_CLASSES | TEMPLATE_CLASSES,
                     re.compile(f"{STUDENT_CLASS_PATTERNS.pattern}|{TEMPLATE_CLASS_PATTERNS.pattern}"),
                     allow_kit_ids=True, math=True)


#: Pieces already cleaned (see feedback/memo.py), by their markup: for student markup and for a
#: feedback page's (with MathML). Public for tests.
CLEANED: dict[str, str] = {}
CLEANED_WITH_MATH: dict[str, str] = {}


_MATH_ONLY = nh3.Cleaner(tags=MATH_TAGS | {"code"}, attributes={**MATH_ATTRIBUTES, "code": {"class"}},
                         clean_content_tags=DROP_WITH_CONTENT - {"math"}, url_schemes=set(),
                         filter_style_properties=set(), link_rel=None, strip_comments=True)


def clean_mathml(html: str) -> str:
    """A formula's MathML (math.tex_to_mathml) with only MathML's layout elements and
    attributes left: the converter keeps `\\href` targets and writes `\\text{...}` unescaped."""
    return _MATH_ONLY.clean(html)


def clean_student_html(html) -> str:
    """One piece of student markup (a markdown cell, an HTML output), as inert formatting; any
    MathML goes (the formgrader puts its own formulas back after this pass)."""
    html = str(html)
    return remembered(CLEANED, html, lambda: _STUDENT.clean(html), keep=len(html) < 100_000)


def clean_feedback_html(html) -> str:
    """clean_student_html for a feedback page, whose formulas are MathML by now (feedback/math.py):
    MathML's layout elements and attributes stay (MATH_TAGS, MATH_ATTRIBUTES)."""
    html = str(html)
    return remembered(CLEANED_WITH_MATH, html, lambda: _STUDENT_WITH_MATH.clean(html), keep=len(html) < 100_000)


def clean_notebook_html(html: str) -> str:
    """The whole rendered notebook, kit headings included: the net under the per-piece pass, for
    any path by which student text reaches the page outside clean_student_html (tags, metadata)."""
    return _NOTEBOOK.clean(html)
