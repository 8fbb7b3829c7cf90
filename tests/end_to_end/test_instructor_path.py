"""The instructor's path end to end, through the kit's command line, then a student's (issue 13).

In a copy of the course (so the repository is never written): the instructor releases; four
students hand in the released notebook (one solved, one with the classic dW2 bug, one untouched,
one cut off mid-upload); `grade` grades them; the instructor opens the formgrader in Chromium,
reads the judge's scores there, gives the dW2 student some points back and a comment; nbgrader's
export writes grades.csv with that change beside the kit's untouched scores.csv; the kit's own
export writes scores.csv and the LMS file again from the gradebook, the review included; the
feedback is generated again so it carries the review; and each student opens the page handed back, with the
network refused, and sees rendered math and their score, or what was wrong with their file.

Each command is `./kit ARGS` after its one-time set-up, i.e. the `autograder` command with the
kit's python (README: `.venv/bin/autograder ARGS` is the same). It is run as this interpreter's
`-m autograder`, never through ./kit itself: ./kit would start its set-up (a pip install) when
this checkout's .venv is missing or older than pyproject.toml, e.g. in a git worktree that
borrows another checkout's venv.
"""
from __future__ import annotations

import csv
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.course import manifest, notebook, samples
from autograder.nbgrader_env import with_python_bin
from autograder.pipeline.gradebook.store import COURSE_ID, sqlite_url

from support.browser import (chromium, file_url, formgrader_grading_page_ready, formgrader_server, formgrader_submissions,
                     offline_page, save_in_formgrader)
from support import ROOT, SAMPLE_LIMITS
from support.submissions import copy_course, expected_lost, plant, planted_rows, row_edits, write_submissions

ASSIGNMENT = "gradient_checking"
NOTEBOOK = manifest.load(ASSIGNMENT, ROOT).notebook
POINTS = notebook.points(notebook.source_notebook(ASSIGNMENT, ROOT, NOTEBOOK))
TOTAL = sum(POINTS.values())
DW2_BUG = next(row for row in planted_rows(ASSIGNMENT) if row["id"] == "bpn_dW2_doubled")
(LOST,) = expected_lost(DW2_BUG)
LOST_POINTS = POINTS[f"test_{LOST}"]

#: student id: (what they hand in, the score and status `grade` must give them)
CLASS = {
    "ada": ("the release with the instructor's solutions typed in", TOTAL, "passed"),
    "ben": ("the same with the classic dW2 bug", TOTAL - LOST_POINTS, "failed"),
    "cy": ("the release as handed out", 0, "missing"),
    "dee": ("a file cut off mid-upload", 0, "error"),
}
#: What the instructor types in the formgrader for ben's lost exercise.
MANUAL_SCORE = LOST_POINTS / 2
COMMENT = "Half the points back: your check is right, only dW2 carries a stray factor 2."


def kit(*args: str, course: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`./kit ARGS` for the course at `course`, run in cwd; fails the test with the command's output."""
    result = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, env=kit_env(course),
                            capture_output=True, text=True)
    assert result.returncode == 0, f"./kit {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def kit_env(course: Path) -> dict:
    env = with_python_bin()
    env["AUTOGRADER_COURSE_ROOT"] = str(course)  # the copy is the course root
    env["PYTHONPATH"] = str(ROOT)  # this checkout's kit, whichever checkout the venv was installed from
    return env


def readme_command(nbgrader_command: str) -> list[str]:
    """The README's (or a guide's in docs/) `cd grading-output && ../kit nbgrader COMMAND ...`, as
    ./kit's arguments: the test runs what the documentation tells an instructor."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    readme = "\n".join(page.read_text(encoding="utf-8") for page in pages)
    found = re.search(rf"`cd grading-output && \.\./kit (nbgrader {nbgrader_command}\b[^`]*)`", readme)
    assert found, f"neither the README nor docs/ shows `cd grading-output && ../kit nbgrader {nbgrader_command} ...`"
    return found.group(1).split()


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def by_student(path: Path) -> dict[str, dict]:
    return {row["student_id"]: row for row in read_csv(path)}


def files_of(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


# ---- the path, step by step: each fixture is one step and runs once --------------------------

@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Step 1: in a copy of the course (config, assignments, source), `./kit release gradient_checking`."""
    course = copy_course(tmp_path_factory.mktemp("course"), ASSIGNMENT)
    result = kit("release", ASSIGNMENT, course=course)
    assert f"released {ASSIGNMENT} -> release/{ASSIGNMENT}" in result.stdout
    return course


@dataclass
class Graded:
    out: Path
    scores_csv: bytes  # as `grade` wrote it


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """Steps 2 and 3: the class hands in the released notebook (nbgrader's submitted/ layout), then
    `./kit grade submitted --assignment gradient_checking --out OUT --jobs 2` under the session's limits."""
    released = nbformat.read(course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    solved = samples.solved(ASSIGNMENT, course)  # the release, each solution cell filled in from source/
    buggy = solved
    for edit in row_edits(DW2_BUG):
        buggy = plant(buggy, edit["function"], edit["old"], edit["new"])
    collected = tmp_path_factory.mktemp("collected")
    write_submissions(collected, {"ada": solved, "ben": buggy, "cy": released}, ASSIGNMENT)
    cut_off = collected / "submitted" / "dee" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    cut_off.parent.mkdir(parents=True)
    cut_off.write_text('{"cells": [', encoding="utf-8")

    out = tmp_path_factory.mktemp("graded") / "grading-output"
    kit("grade", str(collected / "submitted"), "--assignment", ASSIGNMENT, "--out", str(out), "--jobs", "2",
        "--time-limit", f"{SAMPLE_LIMITS[ASSIGNMENT].wall_seconds:g}", "--memory-mb", str(SAMPLE_LIMITS[ASSIGNMENT].memory_mb),
        course=course)
    return Graded(out, (out / "scores.csv").read_bytes())


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def reviewed(course, graded, browser, tmp_path_factory):
    """Step 4: `./kit formgrader OUT`; in the browser, read the list, then open ben's submission and
    type a score over the judge's on the exercise he lost, and a comment. {student: overall score}
    as listed before the review."""
    log = tmp_path_factory.mktemp("formgrader") / "formgrader.log"
    argv = [sys.executable, "-m", "autograder", "formgrader", str(graded.out)]
    with formgrader_server(argv, log, cwd=ROOT, env=kit_env(course)) as (url, server):
        token = url.split("token=")[1]
        assert token not in (Path("/proc") / str(server.pid) / "cmdline").read_text(errors="replace")
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        try:
            page = context.new_page()
            listed = formgrader_submissions(page, url, ASSIGNMENT, NOTEBOOK, count=3)
            page.get_by_role("link", name="ben").first.click()
            formgrader_grading_page_ready(page)
            save_in_formgrader(page, f"#test_{LOST}", f"{MANUAL_SCORE:g}", "grade")
            save_in_formgrader(page, f"#{LOST}-comment", COMMENT, "comment")
        finally:
            context.close()
    text = log.read_text(errors="replace")
    assert "Unwritable directory" not in text and "Traceback" not in text, text[-3000:]
    return listed


@pytest.fixture(scope="module")
def exported(course, graded, reviewed):
    """Step 5: `cd OUT && ../kit nbgrader export` (nbgrader's grades.csv), as the README has it."""
    kit(*readme_command("export"), course=course, cwd=graded.out)
    return by_student(graded.out / "grades.csv")


@pytest.fixture(scope="module")
def kit_exported(course, graded, exported):
    """Step 5b: `./kit export OUT --lms-export moodle`: the kit's CSVs and the LMS file, from the gradebook."""
    kit("export", str(graded.out), "--lms-export", "moodle", course=course)
    return graded.out


@pytest.fixture(scope="module")
def handed_back(course, graded, exported, tmp_path_factory):
    """The feedback written again after the review, as the README has it (`cd OUT && ../kit nbgrader
    generate_feedback gradient_checking --force`), then `./kit feedback-bundle OUT`; each student's
    download is their zip alone, unpacked in a folder of its own (docs/instructor.md)."""
    kit(*readme_command("generate_feedback"), course=course, cwd=graded.out)
    kit("feedback-bundle", str(graded.out), "--assignment", ASSIGNMENT, course=course)
    pages = {}
    for student in CLASS:
        download = tmp_path_factory.mktemp(f"download-{student}")
        with zipfile.ZipFile(graded.out / "feedback-bundle" / ASSIGNMENT / "students" / f"{student}.zip") as zf:
            assert zf.namelist() == [f"{ASSIGNMENT}/{NOTEBOOK}.html"]
            zf.extractall(download)
        pages[student] = download / ASSIGNMENT / f"{NOTEBOOK}.html"
    return pages


# ---- what each step must give ----------------------------------------------------------------

def test_release_regenerates_what_students_get_without_solutions_and_with_the_test_cells(course):
    release = course / "release" / ASSIGNMENT
    assert files_of(release) == files_of(ROOT / "release" / ASSIGNMENT), \
        "the committed release/ is not what ./kit release makes: run it and commit release/"
    released = nbformat.read(release / f"{NOTEBOOK}.ipynb", as_version=4)
    text = "\n".join(cell.source for cell in released.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "hidden_check" not in text
    for edit in row_edits(DW2_BUG):
        assert edit["old"] not in text  # the instructor's line, found in the source, is gone
    stubs = [c for c in released.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)
    assert notebook.points(released) == POINTS  # every test cell, with its points
    tests = [c for c in released.cells if notebook.is_test_cell(c)]
    assert all(c.metadata["nbgrader"].get("locked") and c.source.strip() for c in tests)


def test_grade_gives_each_student_the_score_and_status_expected(graded):
    rows = by_student(graded.out / "scores.csv")
    assert {s: (float(r["score"]), float(r["max_score"]), r["status"]) for s, r in rows.items()} == \
        {s: (score, TOTAL, status) for s, (_, score, status) in CLASS.items()}


def test_the_formgrader_lists_the_judges_scores(reviewed):
    # dee's file could not be read, so there is no notebook to open there: not listed (its 0 and
    # the reason are in scores.csv, grades.csv and its feedback page).
    assert reviewed == {s: f"{score:g} / {TOTAL:g}" for s, (_, score, _) in CLASS.items() if s != "dee"}


def test_the_manual_grade_is_saved_beside_the_judges_auto_score(graded, reviewed):
    with Gradebook(sqlite_url(graded.out / "gradebook.db"), COURSE_ID) as gb:
        cell = gb.find_grade(f"test_{LOST}", ASSIGNMENT, NOTEBOOK, "ben")
        assert (cell.auto_score, cell.manual_score, cell.score) == (0, MANUAL_SCORE, MANUAL_SCORE)
        assert gb.find_comment(LOST, ASSIGNMENT, NOTEBOOK, "ben").manual_comment == COMMENT


def test_nbgraders_export_carries_the_manual_grade_and_scores_csv_is_untouched(graded, exported):
    reviewed_total = TOTAL - LOST_POINTS + MANUAL_SCORE
    assert {s: (float(r["raw_score"]), float(r["score"]), float(r["max_score"])) for s, r in exported.items()} == \
        {s: (reviewed_total if s == "ben" else score, reviewed_total if s == "ben" else score, TOTAL)
         for s, (_, score, _) in CLASS.items()}
    assert (graded.out / "scores.csv").read_bytes() == graded.scores_csv


def test_the_kits_export_carries_the_manual_grade_to_its_csvs_and_the_lms_file(kit_exported):
    reviewed_total = TOTAL - LOST_POINTS + MANUAL_SCORE
    scores = by_student(kit_exported / "scores.csv")
    assert (float(scores["ben"]["score"]), scores["ben"]["status"], scores["ben"]["graded_by_hand"]) == \
        (reviewed_total, "failed", "1")
    row = next(r for r in read_csv(kit_exported / "grades_by_exercise.csv")
               if (r["student_id"], r["exercise"]) == ("ben", f"test_{LOST}"))
    assert (float(row["score"]), row["graded_by"], row["grader_comment"]) == (MANUAL_SCORE, "grader", COMMENT)
    lms = {r["ID number"]: r for r in read_csv(kit_exported / f"lms_grades_{ASSIGNMENT}.csv")}
    assert {s: float(r["Grade"]) for s, r in lms.items()} == \
        {s: reviewed_total if s == "ben" else score for s, (_, score, _) in CLASS.items()}


def test_each_student_sees_their_score_and_the_math_rendered_offline(handed_back, browser):
    for student, total, lost in (("ada", TOTAL, None), ("ben", TOTAL - LOST_POINTS + MANUAL_SCORE, LOST)):
        with offline_page(browser, viewport={"width": 900, "height": 700}) as page:
            page.goto(file_url(handed_back[student]))
            assert page.blocked == [] and page.evaluate("() => document.scripts.length") == 0
            assert page.locator(".kit-total").inner_text() == f"Score: {total:g} / {TOTAL:g} points"
            assert page.locator("#kit-notebook math").count() > 20
            text = page.locator("#kit-notebook").inner_text()
            assert "\\frac" not in text and "\\partial" not in text
            if lost:  # the instructor's score and comment, beside the judge's message
                heading = page.locator(f"#kit-test_{lost}").inner_text()
                assert heading == f"{lost} — {MANUAL_SCORE:g} / {LOST_POINTS:g} points"
                assert "dW2" in page.locator(".kit-failed .kit-message").inner_text()
                assert COMMENT in text


def test_the_unreadable_submission_gets_a_page_that_says_what_was_wrong(graded, handed_back, browser):
    message = {r["message"] for r in read_csv(graded.out / "grades_by_exercise.csv") if r["student_id"] == "dee"}
    assert len(message) == 1
    with offline_page(browser) as page:
        page.goto(file_url(handed_back["dee"]))
        assert page.locator(".kit-total").inner_text() == f"Score: 0 / {TOTAL:g} points"
        problem = page.locator(".kit-problem").inner_text()
        assert message.pop() in problem and "not valid JSON" in problem
        assert "hand it in again" in page.locator(".kit-advice").inner_text()
        assert page.blocked == []
