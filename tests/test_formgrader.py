"""`autograder formgrader OUT` in a real browser: the printed URL opens nbgrader's formgrader on the
graded course, the submissions are listed with the judge's scores, and a manual grade and a
comment typed there are saved in the gradebook."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.judge.sandbox import Limits
from autograder.pipeline.config import COURSE_ID, sqlite_url
from autograder.pipeline.grade import grade

from browser import chromium
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
    with open(log, "wb") as sink:
        server = subprocess.Popen([sys.executable, "-m", "autograder", "formgrader", str(graded)],
                                  stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and server.poll() is None:
            found = re.search(r"http://127\.0\.0\.1:\d+/formgrader\?token=[\w-]+", log.read_text(errors="replace"))
            if found:
                url = found.group(0)
                try:
                    urllib.request.urlopen(url.split("/formgrader")[0] + "/api/status", timeout=5)
                except urllib.error.HTTPError:
                    break  # it answers (403 without the token): it is up
                except OSError:
                    pass
            time.sleep(0.5)
        assert url and server.poll() is None, log.read_text(errors="replace")[-3000:]
        token = url.split("token=")[1]
        assert token not in (Path("/proc") / str(server.pid) / "cmdline").read_text(errors="replace")
        yield url, log
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_formgrader_lists_the_judges_scores_and_saves_a_manual_grade(graded, formgrader):
    url, log = formgrader
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(url)
        page.wait_for_selector("text=gradient_checking")
        page.get_by_role("link", name="Manual Grading").first.click()
        page.get_by_role("link", name=ASSIGNMENT).first.click()
        page.get_by_role("link", name=ASSIGNMENT).first.click()  # the assignment's notebook
        page.wait_for_selector("text=Submission #2")
        page.get_by_text("Show All Names").click()
        rows = page.locator("table tbody tr").all_inner_texts()
        scores = {name: re.search(r"(\d+(\.\d+)?) / 15", row).group(1)
                  for row in rows for name in ("alice", "bob") if name in row}
        assert scores == {"alice": "12", "bob": "15"}, rows
        assert "Loading, please wait" not in page.locator("body").inner_text()

        page.get_by_role("link", name="alice").first.click()
        # Its script binds the inputs once the page has loaded and the grades came back from the API.
        page.wait_for_function("() => window.formgrader && formgrader.grades && formgrader.grades.loaded"
                               " && formgrader.comments.loaded", timeout=90_000)
        score = page.locator("#test_backward_propagation_n")
        with page.expect_response(lambda r: "/api/grade/" in r.url and r.request.method == "PUT") as saved:
            score.fill("1.5")
            score.press("Tab")
        assert saved.value.ok
        comment = page.locator("#backward_propagation_n-comment")
        with page.expect_response(lambda r: "/api/comment/" in r.url and r.request.method == "PUT") as saved:
            comment.fill("dW2 is twice what it should be: look for a stray factor.")
            comment.press("Tab")
        assert saved.value.ok

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
