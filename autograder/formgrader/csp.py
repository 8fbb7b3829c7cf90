"""The formgrader's Content-Security-Policy: scripts only from nbgrader's own static folder and the
inline scripts a trusted template wrote (by hash), nothing from another origin, no eval.

Trusted side, in the formgrader server. Even if a student's markup got past the sanitiser, a
script it carries has no hash in the policy and no allowed source, so the browser does not run it.
"""
from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

#: Where the formgrader's own JavaScript is served from (nbgrader's static folder).
STATIC_SCRIPTS = "/formgrader/static/"
#: What a Host header may hold to be named in the policy (Jupyter refuses other hosts anyway).
SAFE_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$")
#: Every other directive: styles may be inline (nbconvert's page CSS), images only from the
#: server or data: URLs, no frames, plugins, base or form targets elsewhere.
FIXED = ("default-src 'none'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
         "font-src 'self' data:", "connect-src 'self'", "form-action 'self'", "base-uri 'none'",
         "object-src 'none'", "frame-src 'none'", "frame-ancestors 'none'")


def policy(host: str | None, script_hashes=()) -> str:
    """The header for a page served to `host` (the request's Host) allowing these inline scripts."""
    sources = []
    if host and SAFE_HOST.match(host):
        sources.append(f"http://{host}{STATIC_SCRIPTS}")
    hashes = sorted(set(script_hashes))
    if hashes:
        sources += [f"'{h}'" for h in hashes]
        sources.append("'unsafe-hashes'")  # the template's own onclick="..." handlers, by hash
    script_src = "script-src " + (" ".join(sources) if sources else "'none'")
    return "; ".join((script_src, *FIXED))


def sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


class _InlineScripts(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.found += [value or "" for name, value in attrs if name.lower().startswith("on")]
        if tag == "script" and not any(name == "src" for name, _ in attrs):
            self._in_script, self._text = True, []

    def handle_data(self, data):
        if self._in_script:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script:
            self.found.append("".join(self._text))
            self._in_script = False


def inline_script_hashes(html: str) -> set[str]:
    """The CSP hashes of every inline script and event-handler attribute in a trusted page."""
    parser = _InlineScripts()
    parser.feed(html)
    parser.close()
    return {sha256(text) for text in parser.found}
