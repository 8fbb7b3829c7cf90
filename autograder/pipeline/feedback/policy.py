"""What a feedback page may load: nothing but its own inline styles and data: images (trusted side).

A page is one self-contained file: its math is MathML written when the page is (feedback/math.py),
its styles are inline, its images data: URLs. So the Content-Security-Policy forbids every
script, and any network, frame, font, form target or <base>: a student's markup that slipped past
the sanitiser could still run nothing and reach nowhere.
"""
from __future__ import annotations

CSP = ("default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")
