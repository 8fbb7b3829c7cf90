"""Text a student chose (file names, ids, names, messages), made safe to show (trusted side).

A terminal obeys escape sequences and a spreadsheet runs a cell that starts like a formula, so
such text is never printed or written to a CSV as it came: control and invisible characters are
shown as escapes, and a CSV cell that a spreadsheet would evaluate gets a leading apostrophe.
"""
from __future__ import annotations

import unicodedata

#: Spreadsheets (Excel, LibreOffice, Google Sheets) evaluate a cell that starts with one of these.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def has_control(text: str) -> bool:
    """True if text holds a control, format (e.g. right-to-left override) or unassigned character."""
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in text)


def printable(text: object, keep_newlines: bool = False) -> str:
    """text with every control and invisible character written as an escape (\\x1b, \\u202e)."""
    text = str(text)
    if not has_control(text):
        return text
    return "".join(c if (keep_newlines and c == "\n") or unicodedata.category(c) not in
                   ("Cc", "Cf", "Cs", "Co", "Cn") else _escape(c) for c in text)


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ tab or CR gets an apostrophe.

    Every such cell, numbers included: the kit's own numbers (scores) are never signed."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_row(values) -> list[str]:
    return [csv_cell(v) for v in values]
