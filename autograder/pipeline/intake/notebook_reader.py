"""Read one submitted notebook file, within limits, never raising (trusted side).

A notebook is student-made JSON: it can be cut off, not UTF-8, huge, or shaped to exhaust the
parser (100,000 nested arrays in its metadata made json and nbformat raise RecursionError).
Every such file becomes a message naming the file and what to do; nothing here raises.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat

from ...untrusted_text import printable

#: A notebook larger than this is refused before parsing (outputs are cleared on submission).
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
#: Deepest nesting of JSON lists and objects; notebooks Jupyter writes stay below 15.
MAX_JSON_DEPTH = 64
#: Most JSON values (strings, numbers, lists, objects) in one notebook.
MAX_JSON_VALUES = 2_000_000
#: Most cells in one notebook; the assignments have about forty.
MAX_CELLS = 5_000

RESUBMIT = "re-save it from Jupyter and resubmit"


def json_shape(data) -> tuple[int, int]:
    """(deepest nesting, values counted), counting stopped just past the limits (no recursion)."""
    stack, deepest, values = [(data, 1)], 0, 0
    while stack:
        item, depth = stack.pop()
        values += 1
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH or values > MAX_JSON_VALUES:
            break
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest, values


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook, or None and a message that says what is wrong and what to do."""
    name = printable(Path(path).name)
    try:
        return _read(Path(path), name)
    except (RecursionError, MemoryError):
        return None, f"{name} is too large or too deeply nested to read; {RESUBMIT}"
    except Exception as exc:  # noqa: BLE001 - whatever a hostile file provokes, one student only
        return None, f"{name} could not be read ({type(exc).__name__}); {RESUBMIT}"


def _read(path: Path, name: str) -> tuple[nbformat.NotebookNode | None, str]:
    size = path.stat().st_size
    if size == 0:
        return None, f"{name} is empty; the student should save the notebook in Jupyter and resubmit"
    if size > MAX_NOTEBOOK_BYTES:
        return None, (f"{name} is {size / 2**20:.0f} MB (limit {MAX_NOTEBOOK_BYTES >> 20} MB); "
                      "clear all outputs (Kernel > Restart & Clear Output), save and resubmit")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"{name} is not UTF-8 text (byte {exc.start}); {RESUBMIT}"
    try:
        data = json.loads(text)
    except RecursionError:
        return None, f"{name} nests its JSON more than {MAX_JSON_DEPTH} levels deep; {RESUBMIT}"
    except ValueError as exc:
        return None, (f"{name} is not valid JSON ({printable(exc.msg)} at line {exc.lineno}, column {exc.colno}; "
                      f"was the upload cut off?); {RESUBMIT}")
    depth, values = json_shape(data)
    if depth > MAX_JSON_DEPTH:
        return None, f"{name} nests its JSON more than {MAX_JSON_DEPTH} levels deep; {RESUBMIT}"
    if values > MAX_JSON_VALUES:
        return None, f"{name} holds more than {MAX_JSON_VALUES:,} JSON values; clear all outputs, save and resubmit"
    cells = data.get("cells") if isinstance(data, dict) else None
    if isinstance(cells, list) and len(cells) > MAX_CELLS:
        return None, f"{name} has {len(cells):,} cells (limit {MAX_CELLS:,}); {RESUBMIT}"
    del data
    invalid: dict = {}  # nbformat validates as it reads; it puts the error here instead of logging it
    try:
        nb = nbformat.reads(text, as_version=4, capture_validation_error=invalid)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds for a malformed notebook
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        return None, f"{name} is not a notebook ({printable(first)}); {RESUBMIT}"
    if "ValidationError" in invalid:
        message = getattr(invalid["ValidationError"], "message", None) or str(invalid["ValidationError"])
        return None, f"{name} does not follow the notebook format ({printable(str(message)[:200])}); {RESUBMIT}"
    if len(nb.cells) > MAX_CELLS:
        return None, f"{name} has {len(nb.cells):,} cells (limit {MAX_CELLS:,}); {RESUBMIT}"
    return nb, ""
