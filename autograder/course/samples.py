"""The demo's sample submissions, built from recipes: assignments/<name>/samples.toml (trusted side).

Each sample is the release notebook as a student would hand it in: the instructor's solutions
filled in (or none), then one realistic change. The recipe also records the status every
exercise must get; `autograder release` writes the notebooks to samples/<name>/.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..grading.status import VERDICTS, Status
from .manifest import ManifestError, course_root, folder, load

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RECIPES = "samples.toml"
SAMPLES = "samples"
MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*\n", re.MULTILINE)
_KEYS = {"name", "why", "from", "edit", "truncate", "expect"}
_EDIT_KEYS = {"function", "old", "new"}
STATUSES = VERDICTS


@dataclass(frozen=True)
class Sample:
    name: str
    why: str
    base: str                      # "solved" or "release"
    edits: tuple = ()              # ({function, old, new}, ...)
    truncate: float | None = None
    expect: dict = field(default_factory=dict)

    def status(self, exercise: str) -> Status:
        """The status this sample must get on an exercise (a test cell's grade_id)."""
        return Status(self.expect.get(exercise, self.expect.get("all", Status.PASSED)))


def _refuse(path: Path, where: str, message: str):
    raise ManifestError(f"{path}: {where}: {message}")


def recipes(assignment: str, root: Path | None = None) -> list[Sample]:
    """The samples of an assignment, as its samples.toml describes them ([] when it has none)."""
    path = folder(assignment, root) / RECIPES
    if not path.is_file():
        return []
    try:
        rows = tomllib.loads(path.read_text(encoding="utf-8")).get("sample", [])
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: {exc}") from None
    samples = []
    for index, row in enumerate(rows, 1):
        where = f"sample {index} ({row.get('name', 'no name')})"
        unknown = sorted(set(row) - _KEYS)
        if unknown:
            _refuse(path, where, f"unknown key {unknown[0]!r}; a sample takes {', '.join(sorted(_KEYS))}")
        if row.get("from") not in ("solved", "release") or not row.get("name"):
            _refuse(path, where, 'needs a name and from = "solved" or "release"')
        for edit in row.get("edit", []):
            if set(edit) != _EDIT_KEYS:
                _refuse(path, where, "each edit has exactly function, old and new")
        bad = sorted(s for s in row.get("expect", {}).values() if s not in STATUSES)
        if bad:
            _refuse(path, where, f"unknown status {bad[0]!r} (one of {', '.join(sorted(STATUSES))})")
        samples.append(Sample(row["name"], row.get("why", ""), row["from"], tuple(row.get("edit", [])),
                              row.get("truncate"), dict(row.get("expect", {}))))
    return samples


def _release(assignment: str, notebook: str, root: Path) -> nbformat.NotebookNode:
    return nbformat.read(root / "release" / assignment / f"{notebook}.ipynb", as_version=4)


def solved(assignment: str, root: Path | None = None) -> nbformat.NotebookNode:
    """The release notebook with every solution cell filled in with the instructor's answer."""
    root = root or course_root()
    notebook = load(assignment, root).notebook
    source = nbformat.read(root / "source" / assignment / f"{notebook}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: MARKERS.sub("", c.source)
               for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    nb = _release(assignment, notebook, root)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def edited(nb: nbformat.NotebookNode, function: str, old: str, new: str) -> nbformat.NotebookNode:
    """nb with `old` replaced by `new` in function's solution cell (old must occur there once)."""
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
             and c.metadata["nbgrader"].get("grade_id") == function]
    if len(cells) != 1 or cells[0].source.count(old) != 1:
        raise ManifestError(f"the edit of {function} does not apply: {old!r} must occur exactly once "
                            "in its solution cell")
    cells[0].source = cells[0].source.replace(old, new)
    return nb


def text(nb: nbformat.NotebookNode) -> str:
    """The file nbformat.write would write."""
    out = nbformat.writes(nb)
    return out if out.endswith("\n") else out + "\n"


def build(assignment: str, root: Path | None = None) -> dict[str, str]:
    """{file name: text} of every sample of the assignment."""
    root = root or course_root()
    notebook = load(assignment, root).notebook
    files = {}
    for sample in recipes(assignment, root):
        nb = solved(assignment, root) if sample.base == "solved" else _release(assignment, notebook, root)
        for edit in sample.edits:
            nb = edited(nb, edit["function"], edit["old"], edit["new"])
        content = text(nb)
        if sample.truncate is not None:
            content = content[: int(len(content) * sample.truncate)]
        files[f"{sample.name}.ipynb"] = content
    return files


def write(assignment: str, root: Path | None = None) -> Path | None:
    """Write samples/<assignment>/ from the recipes; its path, or None without recipes."""
    root = root or course_root()
    files = build(assignment, root)
    if not files:
        return None
    target = root / SAMPLES / assignment
    target.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (target / name).write_text(content, encoding="utf-8")
    return target
