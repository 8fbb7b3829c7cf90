"""`autograder new`: a new assignment is its folders only, and is graded like the others.

In a course of its own (a copy of this one's nbgrader config and assignments), the test does what
an instructor does: `autograder new`, edits inside assignments/<name>/ and source/<name>/ only
(a point value changed, a planted bug added), `autograder release`; then every check of
tests/course/test_assignments.py passes on it, `autograder grade` grades its samples as recorded, and
its Gradescope zip carries it alone.
"""
from __future__ import annotations

import json
import shutil
import zipfile

import nbformat
import pytest
from click.testing import CliRunner

from autograder.cli import main
from autograder.course import graders, notebook
from autograder.judge.sandbox import Limits
from autograder.pipeline.run.grade import grade

from support import ROOT
from test_assignments import (check_contract, check_judge_source_and_release, check_planted_bug,
                              check_planted_table, check_release_in_sync, check_sample_statuses,
                              check_samples_match_recipes)
from support.submissions import planted_rows

NAME = "softmax_lab"
EXTRA_BUG = '''
[[submission]]
id = "cg_sign"
why = "−3θ²: the sign flipped"
function = "cube_gradient"
old = "dtheta = 3 * np.asarray(theta, dtype=float) ** 2"
new = "dtheta = -3 * np.asarray(theta, dtype=float) ** 2"
expect_lost = "cube_gradient"
'''


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course with only a new, edited and released assignment; AUTOGRADER_COURSE_ROOT points there."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy2(ROOT / "nbgrader_config.py", root)
    patch = pytest.MonkeyPatch()
    patch.setenv("AUTOGRADER_COURSE_ROOT", str(root))  # the workers of `grade` inherit it
    output = run("new", NAME, "--title", "Softmax lab")
    assert f"released {NAME}" in output
    source = root / "source" / NAME / f"{NAME}.ipynb"
    nb = nbformat.read(source, as_version=4)
    test_cell = next(c for c in nb.cells if notebook.is_test_cell(c))
    test_cell.metadata["nbgrader"]["points"] = 5  # the instructor's edits: a point value,
    nbformat.write(nb, source)
    with open(root / "assignments" / NAME / "planted_bugs.toml", "a", encoding="utf-8") as f:
        f.write(EXTRA_BUG)  # and one more planted bug
    run("release", NAME)
    yield root
    patch.undo()


def test_new_writes_only_its_own_folders_and_refuses_a_second_time(course):
    top = {p.name for p in course.iterdir()}
    assert top == {"nbgrader_config.py", "assignments", "source", "release", "samples"}
    for folder in ("assignments", "source", "release", "samples"):
        assert [p.name for p in (course / folder).iterdir()] == [NAME]
    result = CliRunner().invoke(main, ["new", NAME])
    assert result.exit_code != 0 and "exists already" in result.output
    result = CliRunner().invoke(main, ["new", "Not-a-name"])
    assert result.exit_code != 0 and "cannot name an assignment" in result.output


def test_the_new_assignment_passes_every_check_of_the_others(course, tmp_path):
    assert notebook.points(course / "source" / NAME / f"{NAME}.ipynb") == {"test_cube_gradient": 5.0}
    check_release_in_sync(NAME, course, tmp_path)
    check_samples_match_recipes(NAME, course)
    check_contract(NAME, course)
    check_planted_table(NAME, course)
    rows = planted_rows(NAME, course)
    assert [r["id"] for r in rows] == ["ok_instructor_solution", "cg_no_factor_3", "cg_sign"]
    for row in rows:
        check_planted_bug(NAME, course, row)
    check_judge_source_and_release(NAME, course)


def test_grade_gives_its_samples_their_recorded_statuses_and_points(course, tmp_path):
    out = tmp_path / "out"
    run_ = grade(course / "samples" / NAME, NAME, out, jobs=2, limits=Limits(wall_seconds=60), progress=False)
    check_sample_statuses(NAME, course, run_)
    assert {r.student_id: r.score for r in run_.rows} == {"perfect": 5.0, "untouched_release": 0.0}


def test_its_gradescope_zip_carries_it_alone(course, tmp_path):
    run("gradescope", NAME, "--out", str(tmp_path / "gs.zip"))
    with zipfile.ZipFile(tmp_path / "gs.zip") as zf:
        names = zf.namelist()
        table = json.loads(zf.read("kit/gradescope.json"))
    assessed = sorted(n for n in names if n.startswith("kit/assignments/"))
    assert assessed == [f"kit/assignments/{NAME}/{f}" for f in
                        ("grader/__init__.py", "grader/checks.py", "grader/reference.py", "manifest.toml")]
    assert table["max_score"] == 5 and [e["function"] for e in table["exercises"]] == ["cube_gradient"]
    assert graders.files(NAME, course)[0].parent == course / "assignments" / NAME / "grader"
