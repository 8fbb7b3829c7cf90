"""`autograder new NAME`: a working assignment to start from (trusted side).

It writes, for one exercise (a function `cube_gradient`, the derivative of Σθ³):

    assignments/NAME/manifest.toml        title, due date, threshold, limits
    assignments/NAME/grader/checks.py     the hidden check (CHECKS)
    assignments/NAME/grader/reference.py  the reference answer
    assignments/NAME/samples.toml         two samples: solved, and handed in untouched
    assignments/NAME/planted_bugs.toml    one planted bug, and the solution with full marks
    source/NAME/NAME.ipynb                the instructor notebook: the exercise, its solution,
                                          its test cell (visible and hidden tests)
    source/NAME/public_tests.py           the visible test

and nothing else: the engine finds the assignment from its folder. `autograder new` then
releases it, so release/NAME/ and samples/NAME/ exist and the kit's tests cover it at once.
"""
from __future__ import annotations

import keyword
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .manifest import ASSIGNMENTS, MANIFEST, available

FUNCTION = "cube_gradient"


class ScaffoldError(Exception):
    """The assignment cannot be created; the message says why."""


def _nbgrader(grade_id: str, solution: bool, grade: bool, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook(name: str, title: str) -> nbformat.NotebookNode:
    """The instructor notebook: an introduction, the imports, one exercise and its test cell."""
    cells = [
        new_markdown_cell(f"# {title}\n\nImplement each function where it says `# YOUR CODE HERE`, then "
                          "run its test cell to check it."),
        new_code_cell("import numpy as np\n\nimport public_tests", metadata=_nbgrader("imports", False, False)),
        new_markdown_cell(f"### Exercise 1 - {FUNCTION}\n\nFor the cost $J(\\theta) = \\sum_i \\theta_i^3$, "
                          f"return its gradient $3\\theta^2$, an array shaped like `theta`."),
        new_code_cell(f"def {FUNCTION}(theta):\n"
                      '    """The gradient of J(theta) = sum(theta ** 3), shaped like theta."""\n'
                      "    ### BEGIN SOLUTION\n"
                      "    dtheta = 3 * np.asarray(theta, dtype=float) ** 2\n"
                      "    ### END SOLUTION\n"
                      "    return dtheta", metadata=_nbgrader(FUNCTION, True, False)),
        new_code_cell("# Visible tests: run this cell as often as you like.\n"
                      f"public_tests.test_{FUNCTION}({FUNCTION})\n"
                      "### BEGIN HIDDEN TESTS\n"
                      "from autograder.grading.hidden import hidden_check\n"
                      f'hidden_check("{FUNCTION}", globals(), assignment="{name}")\n'
                      "### END HIDDEN TESTS", metadata=_nbgrader(f"test_{FUNCTION}", False, True, 2)),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


PUBLIC_TESTS = f'''"""Visible tests. Run them as often as you like: each says what it expected, what your function
returned and where to look. Hidden tests grade every exercise on other cases too."""
import numpy as np

from visible_test_helpers import fail, passed, quietly


def test_{FUNCTION}({FUNCTION}):
    for theta in (np.array([1.0, -2.0]), np.array([[0.5], [3.0]])):
        with quietly():
            got = {FUNCTION}(theta.copy())
        expected = 3 * theta ** 2
        if np.shape(got) != theta.shape or not np.allclose(got, expected):
            fail(f"{FUNCTION}({{theta.tolist()}}) is wrong.", expected.tolist(), got,
                 "the derivative of θ³ is 3θ², for every component, shaped like theta.")
    passed("{FUNCTION}", "other shapes and values")
'''

MANIFEST_TEXT = '''# Course settings for the {name} assignment: the one place to edit them.
[assignment]
title = "{title}"
notebook = "{name}"      # source/{name}/{name}.ipynb
# due = "2027-01-31T23:59:00+00:00"

[grading]
# A gradient is correct when its relative difference is below this.
threshold = 1e-7
# Candidate steps for a reference central difference.
reference_epsilons = [1e-4, 3e-5, 1e-5, 3e-6, 1e-6]

[limits]
# Per submission, for the notebook's kernel and for the judge: CPU seconds of its own processes
# (its wall time is bounded by this plus a fixed margin), and memory.
time_seconds = 60
memory_mb = 1024
'''

REFERENCE = f'''"""Reference of {{name}}: the answers its hidden checks compare against (trusted side)."""
import numpy as np


def {FUNCTION}(theta):
    return 3 * np.asarray(theta, dtype=np.float64) ** 2
'''

CHECKS = f'''"""The hidden checks of {{name}}: one per exercise, judging a student's function through a Subject
(trusted side). A check chooses its inputs, calls the student's function through the Subject,
compares the plain data it gets back with the reference, and raises Failed with a message."""
from typing import Callable

import numpy as np

from autograder.grading.compare import same_values
from autograder.grading.subject import Subject
from autograder.grading.tolerances import Tolerances

from . import reference

#: (theta, how the feedback names the case, public): the first is the visible test's.
CASES = [(np.array([1.0, -2.0]), "theta = [1, -2]", True),
         (np.random.default_rng(1).standard_normal((4, 3)), "a hidden 4 × 3 theta", False),
         (np.array([[0.0], [-1e3]]), "a hidden column with 0 and a large value", False)]


def check_{FUNCTION}(subject: Subject, tol: Tolerances) -> dict:
    for theta, label, public in CASES:
        got = subject.call("{FUNCTION}", (theta.copy(),))
        same_values(got, reference.{FUNCTION}(theta), f"the gradient for {{{{label}}}}", public=public)
    return {{{{}}}}


CHECKS: dict[str, Callable[[Subject, Tolerances], dict]] = {{{{
    "{FUNCTION}": check_{FUNCTION},
}}}}
'''

SAMPLES = '''# The demo's sample submissions, samples/{name}/<name>.ipynb: `./kit release` builds them; the
# keys are described in assignments/gradient_checking/samples.toml.

[[sample]]
name = "perfect"
why = "every exercise solved"
from = "solved"
expect = {{}}

[[sample]]
name = "untouched_release"
why = "handed in as handed out"
from = "release"
expect = {{ all = "missing" }}
'''

PLANTED = f'''# Planted bugs and the exercise each must lose (tests/course/test_assignments.py); the keys are described
# in assignments/gradient_checking/planted_bugs.toml.

[[submission]]
id = "ok_instructor_solution"
why = "the instructor's notebook as it is"
expect_lost = []

[[submission]]
id = "cg_no_factor_3"
why = "θ² instead of 3θ²"
function = "{FUNCTION}"
old = "dtheta = 3 * np.asarray(theta, dtype=float) ** 2"
new = "dtheta = np.asarray(theta, dtype=float) ** 2"
expect_lost = "{FUNCTION}"
status = "failed"
'''


def create(name: str, root: Path, title: str | None = None) -> list[Path]:
    """Write the new assignment's files under root; the paths written."""
    if not name.isidentifier() or keyword.iskeyword(name) or not name.islower():
        raise ScaffoldError(f"{name!r} cannot name an assignment: use lower-case letters, digits and _ "
                            "(a Python name, as its grader is imported by it)")
    if name in available(root) or (root / ASSIGNMENTS / name).exists() or (root / "source" / name).exists():
        raise ScaffoldError(f"{name} exists already ({root / ASSIGNMENTS / name} or {root / 'source' / name})")
    title = title or name.replace("_", " ").capitalize()
    if '"' in title or "\\" in title:
        raise ScaffoldError("the title cannot contain quotes or backslashes")
    folder, source = root / ASSIGNMENTS / name, root / "source" / name
    files = {
        folder / MANIFEST: MANIFEST_TEXT.format(name=name, title=title),
        folder / "grader" / "__init__.py": f'"""The grader of {name}: checks.py (CHECKS) and reference.py."""\n',
        folder / "grader" / "checks.py": CHECKS.format(name=name),
        folder / "grader" / "reference.py": REFERENCE.format(name=name),
        folder / "samples.toml": SAMPLES.format(name=name),
        folder / "planted_bugs.toml": PLANTED,
        source / "public_tests.py": PUBLIC_TESTS,
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    notebook = source / f"{name}.ipynb"
    nbformat.write(source_notebook(name, title), notebook)
    return [*files, notebook]
