"""Fingerprints: each notebook's exercises as sets of fragment keys, the release's boilerplate taken out.

As MOSS's base file does, a fragment the release itself holds for an exercise (its docstring-free
skeleton, the lines given to every student) is not evidence and is dropped. Each kept key remembers
the first source lines it came from, for the report.
"""
from __future__ import annotations

from .exercises import Code
from .normalise import fragment_key, fragments

#: key -> (first line, last line) in the exercise's source
Fingerprint = dict[int, tuple[int, int]]


def fingerprint(code: Code, boilerplate: frozenset[int] = frozenset()) -> Fingerprint:
    """The keys of code's fragments that are not boilerplate; empty if the code cannot be read."""
    prints: Fingerprint = {}
    try:
        for func in code.functions:
            for fragment in fragments(func, code.globals):
                key = fragment_key(fragment.text)
                if key not in boilerplate and key not in prints:
                    prints[key] = (fragment.first_line, fragment.last_line)
    except Exception:  # noqa: BLE001 - pathological code (nesting, size): no evidence from it, nobody else pays
        return {}
    return prints


def fragment_texts(code: Code) -> dict[int, str]:
    """key -> normalised text, for the report (computed again only for the pairs shown)."""
    texts: dict[int, str] = {}
    try:
        for func in code.functions:
            for fragment in fragments(func, code.globals):
                texts.setdefault(fragment_key(fragment.text), fragment.text)
    except Exception:  # noqa: BLE001 - as in fingerprint
        return {}
    return texts


def boilerplate(release: dict[str, Code]) -> dict[str, frozenset[int]]:
    """exercise -> the keys of the release's own code for it."""
    return {name: frozenset(fingerprint(code)) for name, code in release.items()}
