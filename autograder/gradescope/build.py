"""Build the Gradescope autograder zip of an assignment.

Layout of the zip (Gradescope unpacks it into /autograder/source/):

    setup.sh                       installs python3 and the kit (run once, when the image is built)
    run_autograder                 grades one submission (copied by Gradescope to /autograder/)
    kit/pyproject.toml, README.md  the kit, pip-installed by setup.sh with its PyPI dependencies
    kit/autograder/...             the engine: judge, grading API, pipeline (no assignment)
    kit/assignments/<name>/manifest.toml
                                   the manifest: threshold, reference steps, time and memory limits
    kit/assignments/<name>/grader/ its grader (hidden checks, reference, cases, dependencies), plus
                                   the modules of another assignment's grader that it imports
    kit/helpers/<name>/*.py        the assignment's helper modules (gc_utils.py, ...), which the
                                   student's code imports
    kit/gradescope.json            the points table: one row per test cell of the source notebook

The instructor notebook (solutions and hidden tests) is not in the zip: the judge needs only its
points table, which is read here.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import nbformat

from ..course import graders
from ..course import manifest as manifests
from ..course.notebook import exercises as test_cells

_HERE = Path(__file__).resolve().parent
#: The kit's package folder, copied into the zip as kit/autograder.
PACKAGE = _HERE.parent
#: Where the zip's kit lives, relative to the zip's root (and to /autograder/source/).
KIT = "kit"
TABLE = "gradescope.json"
#: A fixed timestamp for every member: the same inputs build the same zip, byte for byte.
STAMP = (2020, 1, 1, 0, 0, 0)
_SKIP = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
#: Where a zip goes unless --out says otherwise: a folder of generated files that git ignores.
OUT_FOLDER = "gradescope-output"


def default_zip(assignment: str) -> Path:
    return Path(OUT_FOLDER) / f"gradescope-{assignment}.zip"


class BuildError(Exception):
    """The zip cannot be built; the message says what to fix."""


def _titles(nb) -> dict[str, str]:
    """{function: "Exercise N - function"} from the notebook's "### Exercise N - name" headings."""
    titles = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for match in re.finditer(r"^#+\s*(Exercise\s+\d+\s*[-–—:]\s*`?(\w+)`?)", cell.source, re.MULTILINE):
                titles.setdefault(match.group(2), match.group(1).replace("`", "").strip())
    return titles


def points_table(notebook: Path, assignment: str, root: Path | None = None) -> list[dict]:
    """One row per autograded test cell: exercise (its grade_id), function, title and points."""
    try:
        nb = nbformat.read(str(notebook), as_version=4)
    except (OSError, ValueError) as exc:
        raise BuildError(f"cannot read the source notebook {notebook}: {exc}") from None
    try:
        checks = graders.load(assignment, root).checks
    except graders.GraderError as exc:
        raise BuildError(str(exc)) from None
    titles = _titles(nb)
    rows = []
    for cell in test_cells(nb):
        if cell.function not in checks:
            raise BuildError(f"{notebook.name}: test cell {cell.exercise!r} has no hidden check in the judge, so "
                             "Gradescope could not grade it; name it test_<function> after a checked function")
        rows.append({"exercise": cell.exercise, "function": cell.function,
                     "title": titles.get(cell.function, cell.function), "points": cell.points})
    if not rows:
        raise BuildError(f"{notebook} has no autograded test cells (nbgrader 'grade' cells with points)")
    return rows


def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=STAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    zf.writestr(info, data)


def _tree(folder: Path):
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not _SKIP & set(rel.parts) and path.suffix not in (".pyc", ".pyo"):
            yield rel, path


def build_zip(assignment: str, out: Path | None = None, root: Path | None = None) -> Path:
    """Write the autograder zip of `assignment` to `out` [default_zip]; its path."""
    root = Path(root or manifests.course_root()).resolve()
    manifest = manifests.load(assignment, root)
    source = root / "source" / assignment
    notebook = source / f"{manifest.notebook}.ipynb"
    if not notebook.is_file():
        raise BuildError(f"no source notebook {notebook}; the points table is read from it")
    exercises = points_table(notebook, assignment, root)
    table = {"assignment": assignment, "title": manifest.title, "notebook": f"{manifest.notebook}.ipynb",
             "max_score": sum(e["points"] for e in exercises), "exercises": exercises}
    out = Path(out or default_zip(assignment))
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as zf:
        for script in ("setup.sh", "run_autograder"):
            _add(zf, script, (_HERE / script).read_bytes(), executable=True)
        for name in ("pyproject.toml", "README.md"):  # pip needs both to install the kit
            _add(zf, f"{KIT}/{name}", (PACKAGE.parent / name).read_bytes())
        for rel, path in _tree(PACKAGE):
            _add(zf, f"{KIT}/autograder/{rel.as_posix()}", path.read_bytes(),
                 executable=path.name in ("setup.sh", "run_autograder"))
        _add(zf, f"{KIT}/{manifests.ASSIGNMENTS}/{assignment}/{manifests.MANIFEST}", manifest.path.read_bytes())
        for path in graders.files(assignment, root):  # its grader, and what it imports of another's
            _add(zf, f"{KIT}/{path.relative_to(root).as_posix()}", path.read_bytes())
        for helper in sorted(source.glob("*.py")):
            _add(zf, f"{KIT}/helpers/{assignment}/{helper.name}", helper.read_bytes())
        _add(zf, f"{KIT}/{TABLE}", (json.dumps(table, indent=1) + "\n").encode())
    return out
