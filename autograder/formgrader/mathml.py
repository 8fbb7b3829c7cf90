"""TeX in a notebook's markdown as MathML, written into the page on the server: browsers render it
natively, offline, with no script (the formgrader's policy allows none but its own).

Trusted side, in the formgrader server, on TeX a student may have written. latex2mathml's output
is not safe as it is (it keeps `\\href` targets and writes `\\text{...}` unescaped), so it goes
through an allowlist of MathML elements and presentation attributes; TeX it cannot convert is shown
as TeX source.
"""
from __future__ import annotations

import html
import re
import secrets

import nh3
from latex2mathml.converter import convert

#: MathML Core's presentation elements (what latex2mathml writes).
ELEMENTS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "mfrac", "msqrt", "mroot", "msub", "msup",
    "msubsup", "munder", "mover", "munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom",
    "menclose", "semantics", "annotation", "mmultiscripts", "mprescripts", "none", "merror",
}
ATTRIBUTES = {"display", "mathvariant", "stretchy", "fence", "separator", "form", "lspace", "rspace", "minsize",
              "maxsize", "largeop", "movablelimits", "accent", "accentunder", "linethickness", "scriptlevel",
              "displaystyle", "columnalign", "rowalign", "columnspacing", "rowspacing", "columnlines",
              "rowlines", "frame", "width", "height", "depth", "notation", "symmetric", "xmlns"}
_CLEANER = nh3.Cleaner(tags=ELEMENTS, attributes={tag: ATTRIBUTES for tag in ELEMENTS},
                       clean_content_tags={"script", "style", "iframe", "svg", "object", "embed"},
                       url_schemes=set(), strip_comments=True, link_rel=None,
                       filter_style_properties=set())
def to_mathml(tex: str, block: bool) -> str:
    """One formula as sanitised MathML; its TeX, escaped, if latex2mathml cannot read it."""
    try:
        return _CLEANER.clean(convert(tex, display="block" if block else "inline"))
    except Exception:  # noqa: BLE001 - any TeX the converter chokes on is shown as typed
        return f"<code>{html.escape(tex)}</code>"


class Formulas:
    """The formulas of one page, held out as placeholders while its markup is rendered and
    sanitised (a random token per page: a student cannot write one), then put back as MathML."""

    def __init__(self):
        self.token = "kitmath" + secrets.token_hex(8)
        self.held: list[tuple[str, bool]] = []

    def placeholder(self, tex: str, block: bool) -> str:
        self.held.append((tex, block))
        return f"{self.token}n{len(self.held) - 1}x"

    def put_back(self, page: str) -> str:
        return re.sub(f"{self.token}n(\\d+)x", lambda m: to_mathml(*self.held[int(m.group(1))]), page)
