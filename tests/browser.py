"""Headless Chromium for the tests that look at pages as a person would (feedback, formgrader).

Playwright drives the machine's own Chromium (Debian's `chromium`; `playwright install` is not
used). Without it these tests fail, never skip: CI installs it (.ci/run).
"""
from __future__ import annotations

import contextlib
import shutil
import threading
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
