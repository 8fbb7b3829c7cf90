"""The kit's formgrader: nbgrader's formgrader extension with only what reviewing and manual grading
need, every page under the kit's Content-Security-Policy, and submissions shown inert.

Trusted side, loaded by the formgrader server (server.py). nbgrader's own pages, API and static
files are used as they are; left out are its actions that run or write more than grades
(generate, release, collect, autograde, feedback: run those with `./kit`), and the files beside a
submission (a student could hand in a page or a script to be served from the server's origin).
The submission page is rendered by page.InertFormgradeExporter, nbgrader's exporter seam.
"""
from __future__ import annotations

from nbgrader.server_extensions.formgrader import apihandlers, handlers
from nbgrader.server_extensions.formgrader.formgrader import FormgradeExtension
from tornado import web
from tornado.web import OutputTransform

from . import csp
from .page import InertFormgradeExporter

#: nbgrader's URL patterns take any path segment as an id; the kit's ids are plain names, and only
#: a plain name may reach a template that writes it into a script.
ANY_SEGMENT = "([^/]+)"
PLAIN_SEGMENT = "([A-Za-z0-9_.@+-]+)"
#: nbgrader's API routes that do more than read the gradebook and save grades, comments and flags.
REFUSED_API = ("/assign", "/unrelease", "/release", "/collect", "/autograde", "/generate_feedback",
               "/release_feedback")
#: Private header: the submission page's policy is already set from its template's scripts.
VETTED = "X-Kit-Scripts-Vetted"


class NotInTheKit(handlers.BaseHandler):
    """An nbgrader action the kit's formgrader does not offer: 403 with what to run instead."""

    @web.authenticated
    def get(self, *args):
        # A reason, not a log message: tornado would log the request's URL, token included.
        raise web.HTTPError(403, reason="Not offered by ./kit formgrader: run the kit's commands "
                                        "(./kit grade, ./kit nbgrader ...) from a terminal")

    post = put = patch = delete = get


class InertSubmissionHandler(handlers.SubmissionHandler):
    """nbgrader's submission page; its policy allows only the scripts its template wrote."""

    @property
    def exporter(self):
        return _Recording(self.settings["nbgrader_exporter"], self)


class _Recording:
    """The exporter, for one request: sets that response's policy from the page's own scripts."""

    def __init__(self, exporter, handler):
        self.exporter, self.handler = exporter, handler

    def from_filename(self, filename, resources=None, **kw):
        html, resources = self.exporter.from_filename(filename, resources=resources, **kw)
        self.handler.set_header("Content-Security-Policy",
                                csp.policy(self.handler.request.host, resources["trusted_scripts"]))
        self.handler.set_header(VETTED, "1")
        return html, resources


class TemplateScripts(OutputTransform):
    """Every other HTML page is a template of nbgrader's or Jupyter's with no student content in
    it (the pages fetch their data as JSON): its policy allows the inline scripts it holds."""

    def __init__(self, request):
        super().__init__(request)
        self.host = request.host

    def transform_first_chunk(self, status_code, headers, chunk, finishing):
        vetted = headers.pop(VETTED, None)
        if vetted is None and headers.get("Content-Type", "").startswith("text/html"):
            hashes = csp.inline_script_hashes(chunk.decode("utf-8", "replace")) if finishing else ()
            headers["Content-Security-Policy"] = csp.policy(self.host, hashes)
        return status_code, headers, chunk


def _plain(pattern: str) -> str:
    return pattern.replace(ANY_SEGMENT, PLAIN_SEGMENT)


def routes() -> list[tuple]:
    """nbgrader's formgrader routes the kit keeps, ids narrowed to plain names, the rest refused."""
    kept = []
    for route in handlers.default_handlers:
        pattern, handler = route[0], route[1]
        if handler is handlers.SubmissionFilesHandler:
            continue
        if handler is handlers.SubmissionHandler:
            route = (pattern, InertSubmissionHandler)
        kept.append((_plain(pattern),) + tuple(route[1:]))
    for pattern, handler in apihandlers.default_handlers:
        if not pattern.endswith(REFUSED_API):
            kept.append((_plain(pattern), handler))
    kept += [(r"/formgrader/api/.*", NotInTheKit),
             (r"/formgrader/static/(.*)", web.StaticFileHandler, {"path": handlers.static_path}),
             (r"/formgrader/.*", handlers.Template404)]
    return kept


def _jupyter_server_extension_points():
    return [{"module": "autograder.formgrader.extension"}]


def _load_jupyter_server_extension(serverapp):
    """Load nbgrader's formgrader as nbgrader's loader does, with the kit's exporter and routes."""
    webapp = serverapp.web_app
    formgrader = FormgradeExtension(parent=serverapp)
    formgrader.root_dir = serverapp.root_dir
    formgrader.log = serverapp.log
    formgrader.initialize([])
    formgrader.init_tornado_settings(webapp)
    webapp.settings["nbgrader_exporter"] = InertFormgradeExporter(config=formgrader.config)
    base = webapp.settings["base_url"]
    webapp.add_handlers(".*$", [(base.rstrip("/") + pattern,) + tuple(rest) for pattern, *rest in routes()])
    webapp.add_transform(TemplateScripts)
