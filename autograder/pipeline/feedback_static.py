"""What a feedback page may load, and the offline MathJax it loads from OUT/feedback/_static/.

Trusted side. Pages live at feedback/<student>/<assignment>/<notebook>.html, so the shared folder
is two levels up. MathJax 2 comes from the jupyter_server_mathjax package (the copy Jupyter itself
serves offline), configured in Safe mode so that TeX in a student's markdown cannot add links,
classes, ids or styles. The Content-Security-Policy lets a page run only scripts from its own
origin (the copied MathJax; the sanitiser leaves no <script> tag of the student's), load images
only from data: URLs, and reach no network, no frame, no form target, no <base>.
"""
from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

#: From a feedback page to the shared static folder.
STATIC_URL = "../../_static"
MATHJAX_URL = f"{STATIC_URL}/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
CONFIG_URL = f"{STATIC_URL}/mathjax-config.js"

#: The policy of a page that renders math (MathJax inserts style elements and attributes).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self'; "
       "img-src data:; base-uri 'none'; form-action 'none'")
#: The policy of a page without math: no script at all.
CSP_NO_SCRIPT = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

#: MathJax typesets the student's notebook only, never the kit's summary, in Safe mode.
MATHJAX_CONFIG = """window.MathJax = {
  elements: ["kit-notebook"],
  tex2jax: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
            processEscapes: true, processEnvironments: true},
  Safe: {allow: {URLs: "safe", classes: "none", cssIDs: "none", styles: "none", require: "safe"}},
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null, linebreaks: {automatic: true}},
  messageStyle: "none",
  showMathMenu: false
};
"""
#: Parts of the package a page never loads (translations, accessibility explorer).
_UNUSED = shutil.ignore_patterns("localization", "a11y", "__pycache__")


def mathjax_source() -> Path:
    """The package's MathJax files, found without importing it (its server extension costs 0.1 CPU s)."""
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("jupyter_server_mathjax is not installed; feedback pages need its MathJax")
    return Path(spec.origin).parent / "static"


def install_static(feedback_dir: Path) -> Path:
    """Copy MathJax to feedback_dir/_static once, and write its configuration; when workers race,
    one copies and the others wait for it (a lock on the folder), rather than each copying."""
    static = Path(feedback_dir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    lock = os.open(static, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _install(static)
    finally:
        os.close(lock)


def _install(static: Path) -> Path:
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=static))
    try:
        (staging / "mathjax-config.js").write_text(MATHJAX_CONFIG, encoding="utf-8")
        os.replace(staging / "mathjax-config.js", static / "mathjax-config.js")
        if not (static / "mathjax" / "MathJax.js").is_file():
            shutil.copytree(mathjax_source(), staging / "mathjax", ignore=_UNUSED)
            try:
                os.rename(staging / "mathjax", static / "mathjax")  # atomic; another worker may have won
            except OSError:
                pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return static
