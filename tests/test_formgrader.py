"""`autograder formgrader OUT` in a real browser: the printed URL opens nbgrader's formgrader on the
graded course, the submissions are listed with the judge's scores, and a manual grade and a
comment typed there are saved in the gradebook."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.judge.sandbox import Limits
from autograder.pipeline.config import COURSE_ID, sqlite_url
from autograder.pipeline.grade import grade

from browser import (chromium, formgrader_grading_page_ready, formgrader_server, formgrader_submissions,
                     save_in_formgrader)
from conftest import ROOT

ASSIGNMENT = "gradient_checking"
SAMPLES = ROOT / "samples" / ASSIGNMENT


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("submissions")
    shutil.copy(SAMPLES / "bug_backprop_dW2.ipynb", submissions / "alice.ipynb")
    shutil.copy(SAMPLES / "perfect.ipynb", submissions / "bob.ipynb")
    out = tmp_path_factory.mktemp("graded")
    grade(submissions, ASSIGNMENT, out, jobs=2, limits=Limits(wall_seconds=30), progress=False)
    return out


@pytest.fixture
def formgrader(graded, tmp_path):
    """The command as an instructor runs it; yields the URL it printed."""
    log = tmp_path / "formgrader.log"
    with formgrader_server([sys.executable, "-m", "autograder", "formgrader", str(graded)], log) as (url, server):
        token = url.split("token=")[1]
        assert token not in (Path("/proc") / str(server.pid) / "cmdline").read_text(errors="replace")
        yield url, log


def test_formgrader_lists_the_judges_scores_and_saves_a_manual_grade(graded, formgrader):
    url, log = formgrader
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        scores = formgrader_submissions(page, url, ASSIGNMENT, ASSIGNMENT, count=2)
        assert scores == {"alice": "12 / 15", "bob": "15 / 15"}

        page.get_by_role("link", name="alice").first.click()
        formgrader_grading_page_ready(page)
        save_in_formgrader(page, "#test_backward_propagation_n", "1.5", "grade")
        save_in_formgrader(page, "#backward_propagation_n-comment",
                           "dW2 is twice what it should be: look for a stray factor.", "comment")

    with Gradebook(sqlite_url(graded / "gradebook.db"), COURSE_ID) as gb:
        cell = gb.find_grade("test_backward_propagation_n", ASSIGNMENT, ASSIGNMENT, "alice")
        assert (cell.auto_score, cell.manual_score, cell.score) == (0, 1.5, 1.5)
        assert gb.find_submission(ASSIGNMENT, "alice").score == 13.5
        assert gb.find_comment("backward_propagation_n", ASSIGNMENT, ASSIGNMENT, "alice").manual_comment \
            == "dW2 is twice what it should be: look for a stray factor."
    text = log.read_text(errors="replace")
    assert "Unwritable directory" not in text and "Traceback" not in text, text[-3000:]


def test_formgrader_refuses_a_folder_that_was_not_graded(tmp_path):
    result = subprocess.run([sys.executable, "-m", "autograder", "formgrader", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "run `./kit grade" in result.stderr
