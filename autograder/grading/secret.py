"""The course secret that hidden cases are drawn from (trusted side).

Fixed seeds would give every student of every term the same hidden cases, and anyone who has
read the kit could know them. Instead each course root holds a random secret, created once
(`.autograder-secret`, never committed, released or zipped; Gradescope's setup.sh creates one
per autograder image). A grader draws its hidden cases from `hidden_rng("<assignment>", label,
...)`: the same secret gives the same cases (a resumed or repeated run grades alike), another
course or term gets other cases. The judge's child never sees the course root, so never the
secret. `python -m autograder.grading.secret [ROOT]` creates the secret if missing.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import sys
import tempfile
from pathlib import Path

import numpy as np

#: The secret's file, in the course root (beside assignments/ and source/).
SECRET_FILE = ".autograder-secret"
_LOADED: dict[Path, bytes] = {}


def _root(root: Path | None) -> Path:
    from ..course.manifest import course_root
    return Path(root or course_root()).resolve()


def course_secret(root: Path | None = None) -> bytes:
    """The course's secret, created (owner-readable only) on first use."""
    root = _root(root)
    if root in _LOADED:
        return _LOADED[root]
    path = root / SECRET_FILE
    if not path.is_file():
        fd, temp = tempfile.mkstemp(prefix=".autograder-secret-", dir=root)
        try:
            os.write(fd, (secrets.token_hex(32) + "\n").encode("ascii"))
            os.close(fd)
            os.link(temp, path)  # atomic: if another process won the race, its secret stands
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    text = path.read_text(encoding="ascii").strip()
    if len(text) < 32:
        raise RuntimeError(f"{path} is too short to be a course secret; delete it to make a new one")
    _LOADED[root] = text.encode("ascii")
    return _LOADED[root]


@contextlib.contextmanager
def pinned(secret: bytes, root: Path | None = None):
    """Within the block, root's course secret is `secret` in this process (a test that replays the
    hidden cases a sweep found a fault with); the file is neither read nor written, and what was
    loaded before is back afterwards. Graders' cached draws are theirs to drop."""
    root = _root(root)
    before = _LOADED.get(root)
    _LOADED[root] = secret
    try:
        yield
    finally:
        if before is None:
            _LOADED.pop(root, None)
        else:
            _LOADED[root] = before


def hidden_seed(*labels, secret: bytes | None = None) -> int:
    """A 64-bit seed for the hidden draw named by labels (assignment first), keyed by the secret."""
    key = course_secret() if secret is None else secret
    message = "\x1f".join(str(label) for label in labels).encode()
    return int.from_bytes(hmac.new(key, message, hashlib.sha256).digest()[:8], "big")


def hidden_rng(*labels, secret: bytes | None = None) -> np.random.Generator:
    """A numpy Generator for the hidden draw named by labels, e.g. ("gradient_checking", "case", 5)."""
    return np.random.default_rng(hidden_seed(*labels, secret=secret))


if __name__ == "__main__":
    course_secret(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(f"course secret in {_root(Path(sys.argv[1]) if len(sys.argv) > 1 else None) / SECRET_FILE}")
