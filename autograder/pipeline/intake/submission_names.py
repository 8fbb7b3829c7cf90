"""What a handed-in file's name says: whose it is, which upload it is, and what kind of file.

Trusted side, pure functions on names (never on contents). The rules, in order, for a file of a
folder of `<student>.ipynb` files (docs/instructor.md, "Handing in: names and files"):

1. A browser's duplicate suffix ` (N)` (`bob (1).ipynb`, saved again over an earlier download) is
   upload N of that name; the name without it is upload 0. Of several uploads of one student the
   highest N is graded: browsers number each later download one higher, whereas a file's mtime is
   lost by zips and copies.
2. A name that is already a valid student id (letters, digits and . _ @ - only, see
   STUDENT_ID below) is kept exactly, case and all (nbgrader's ids are case-sensitive).
3. Otherwise a person's name becomes an id by one normal form: accents dropped (é -> e), letters
   lower-cased, each run of spaces, commas and apostrophes written as one "_": `Alice Smith`
   -> `alice_smith`, `O'Brien, Seán` -> `o_brien_sean`. A name with any other character (a
   slash, a bracket, a control or invisible character, a letter with no ASCII form) is not
   guessed at: it stays as it is and the intake refuses it with a message.
4. A trailing `_<notebook>` (or `-<notebook>`) is the assignment's notebook name, not part of the
   id: `bob_gradient_checking.ipynb` is bob's.
"""
from __future__ import annotations

import re
import unicodedata

#: A browser's "saved again" suffix: `name (1)`, `name(2)`.
DUPLICATE = re.compile(r"^(?P<base>.*?\S)\s*\((?P<number>\d{1,4})\)$")
#: Characters of a person's name that the normal form turns into "_".
_SEPARATORS = re.compile(r"[\s',]+")
#: Student ids become folder names: letters, digits and . _ @ - only, no leading dot.
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")

#: What a file that is not a notebook is, in an instructor's words, by its extension.
KINDS = {
    ".py": "a Python file", ".txt": "a text file", ".md": "a Markdown file", ".pdf": "a PDF",
    ".html": "an HTML page", ".htm": "an HTML page", ".zip": "a zip archive", ".docx": "a Word document",
    ".doc": "a Word document", ".png": "an image", ".jpg": "an image", ".jpeg": "an image",
    ".csv": "a CSV file", ".json": "a JSON file", ".r": "an R file",
}


def upload_number(stem: str) -> tuple[str, int]:
    """(the name without a browser's duplicate suffix, its number; 0 without one)."""
    match = DUPLICATE.match(stem)
    return (match.group("base"), int(match.group("number"))) if match else (stem, 0)


def normal_form(name: str) -> str:
    """name as a student id (rules 2 and 3 above); unchanged when it cannot become one safely."""
    if STUDENT_ID.match(name):
        return name
    folded = "".join(c for c in unicodedata.normalize("NFKD", name) if unicodedata.category(c) != "Mn")
    if not folded.isascii() or not all(c.isalnum() or c in "._@-" or _SEPARATORS.match(c) for c in folded):
        return name
    candidate = _SEPARATORS.sub("_", folded.strip()).lower()
    return candidate if STUDENT_ID.match(candidate) else name


def student_of_file(stem: str, notebook: str) -> tuple[str, int]:
    """(student id, upload number) for a handed-in file's name without its extension."""
    base, number = upload_number(stem)
    student = normal_form(base)
    without = re.sub(rf"[_-]+{re.escape(notebook)}$", "", student, flags=re.IGNORECASE)
    return (without if without and STUDENT_ID.match(without) else student), number


def student_of_folder(name: str) -> str:
    """The student id of an nbgrader-layout folder (rules 2 and 3 only: no suffix is dropped)."""
    return normal_form(name)


def kind_of(name: str) -> str:
    """"a Python file", "a PDF", ... or "a .xyz file" for a handed-in file that is not a notebook."""
    suffix = name[name.rfind("."):].lower() if "." in name.lstrip(".") else ""
    return KINDS.get(suffix, f"a {suffix} file" if suffix else "a file without an extension")
