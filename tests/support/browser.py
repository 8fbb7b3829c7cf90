"""Headless Chromium for the tests that look at pages as a person would (feedback, formgrader),
and the formgrader server those tests open.

Playwright drives the machine's own Chromium (Debian's `chromium`; `playwright install` is not
used). Without it these tests fail, never skip: CI installs it (.ci/run).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

#: Flags for a shared machine with no network: nothing phones home, nothing needs a GPU.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("headless Chromium is needed for this test: install it "
                    "(Debian/Ubuntu: apt-get install chromium; .ci/run does this)", pytrace=False)
    return found


@contextlib.contextmanager
def chromium():
    """A Playwright Browser on the machine's Chromium, closed afterwards."""
    from playwright.sync_api import sync_playwright
    path = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def offline_page(browser, **context_options):
    """A page whose every request other than file:// is refused and recorded in page.blocked."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.blocked = []

    def refuse(route):
        page.blocked.append(route.request.url)
        route.abort()

    context.route(lambda url: not url.startswith(("file:", "about:", "data:")), refuse)
    try:
        yield page
    finally:
        context.close()


class RequestLog:
    """A local HTTP server that records every request: an attack that reaches it has run."""

    def __init__(self):
        log = self.requests = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                log.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def file_url(path: Path) -> str:
    return Path(path).resolve().as_uri()


@contextlib.contextmanager
def formgrader_server(argv: list[str], log: Path, **popen_options):
    """Run `autograder formgrader OUT` (argv) as an instructor does; yield (url, server) once it answers.

    The URL is the one the command printed (token included); the server, its whole process
    group, is stopped afterwards."""
    with open(log, "wb") as sink:
        server = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
                                  **popen_options)
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
        yield url, server
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have ended by itself
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def formgrader_submissions(page, url: str, assignment: str, notebook: str, count: int) -> dict[str, str]:
    """Open the formgrader at url, go to Manual Grading -> assignment -> notebook, wait for `count`
    submissions, show their names; {student_id: overall score as listed, e.g. "12 / 15"}."""
    page.goto(url)
    page.wait_for_selector(f"text={assignment}")
    page.get_by_role("link", name="Manual Grading").first.click()
    page.get_by_role("link", name=assignment).first.click()
    page.get_by_role("link", name=notebook).first.click()
    page.wait_for_selector(f"text=Submission #{count}")
    page.get_by_text("Show All Names").click()
    header = page.locator("table thead th").all_inner_texts()
    name, score = header.index("Submission ID"), header.index("Overall Score")
    rows = [row.locator("td").all_inner_texts() for row in page.locator("table tbody tr").all()]
    assert "Loading, please wait" not in page.locator("body").inner_text()
    return {cells[name].strip(): cells[score].strip() for cells in rows}


def formgrader_grading_page_ready(page) -> None:
    """Wait until a submission's grading page has bound its inputs (after the grades came back from the API)."""
    page.wait_for_function("() => window.formgrader && formgrader.grades && formgrader.grades.loaded"
                           " && formgrader.comments.loaded", timeout=90_000)


def save_in_formgrader(page, selector: str, value: str, kind: str) -> None:
    """Type value into the grading page's input (kind: "grade" or "comment") and wait until the API saved it."""
    field = page.locator(selector)
    with page.expect_response(lambda r: f"/api/{kind}/" in r.url and r.request.method == "PUT") as saved:
        field.fill(value)
        field.press("Tab")
    assert saved.value.ok, (selector, saved.value.status)
