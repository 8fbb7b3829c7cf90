"""nbgrader's feedback HTML, made inert, offline and readable, rendered fast in a long-lived worker.

Trusted side: renders the autograded notebook, which holds the student's markup. The page is
nbgrader's feedback template extended by the kit's (templates/autograder_feedback): the
kit's summary comes first, outside the student's part, with the total, every exercise by name with
its points and the judge's message (from the gradebook and the verdict record, never from the
notebook's text). Student markup is sanitised piece by piece (nbconvert's `clean_html` seam) and
the whole student part once more (feedback/sanitiser.py). Math is MathML, written here from the
markdown's TeX (feedback/math.py), so the page is one file that needs no script: its
Content-Security-Policy (feedback/policy.py) forbids them all.

Speed: nbgrader builds a new exporter per student, so compiled templates are kept in memory for
the worker's life, and nbconvert's BeautifulSoup re-parse is replaced by one substitution for
missing alt texts. Plugged in through nbgrader's own setting, `GenerateFeedback.exporter_class`.
"""
from __future__ import annotations

import re
import secrets
from pathlib import Path

import nbgrader
from jinja2 import BytecodeCache
import nbformat
from nbconvert.exporters import HTMLExporter
from nbconvert.exporters.html import contextfilter
from nbconvert.exporters.templateexporter import TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from traitlets import Bool

from ...grading.status import Status
from ...grading_output import class_record
from ..gradebook import verdicts as verdict_records
from . import policy
from .math import latex_output_to_html, markdown_to_html
from .memo import remembered
from .sanitiser import clean_feedback_html, clean_notebook_html

TEMPLATES = Path(__file__).parent / "templates"
NBGRADER_TEMPLATES = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
BOOTSTRAP_CSS = NBGRADER_TEMPLATES.parent / "static" / "node_modules" / "bootstrap" / "dist" / "css"


class _MemoryBytecodeCache(BytecodeCache):
    """Compiled templates, kept for the life of the process."""

    def __init__(self):
        self.store: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.store:
            bucket.bytecode_from_string(self.store[bucket.key])

    def dump_bytecode(self, bucket):
        self.store[bucket.key] = bucket.bytecode_to_string()


_CACHE = _MemoryBytecodeCache()
#: What the feedback pages repeat, made once per process (feedback/memo.py); public for tests.
#: Highlighted code by (lexer, language, magics language, formatter options, source).
HIGHLIGHTED: dict[tuple, str] = {}
#: Markdown cells rendered to HTML, by their text and the settings the rendering reads.
MARKDOWN: dict[tuple, str] = {}


class RememberingHighlight(Highlight2HTML):
    """Highlight2HTML that keeps what it made: the release's cells, highlighted once in the
    worker's warm-up, come back unchanged in every student's page (pygments was a quarter of it)."""

    def __call__(self, source, language=None, metadata=None):
        magics = (metadata or {}).get("magics_language")  # the only metadata nbconvert's highlight reads
        key = (self.pygments_lexer, language, magics, repr(self.extra_formatter_options), source)
        return remembered(HIGHLIGHTED, key, lambda: super(RememberingHighlight, self).__call__(
            source, language, metadata))
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)")


def number(value) -> str:
    return f"{float(value or 0):g}"


def points(score, max_score) -> str:
    """'1 / 1 point', '0 / 3 points'."""
    return f"{number(score)} / {number(max_score)} point{'' if float(max_score or 0) == 1 else 's'}"


def exercise_name(grade_id: str, verdict: verdict_records.ExerciseVerdict | None) -> str:
    """The function a test cell judges (from the verdict), else its grade id without `test_`."""
    if verdict and verdict.function:
        return verdict.function
    return grade_id[5:] if grade_id.startswith("test_") else grade_id


def grader_note(score: str, earlier: bool, comment: str | None) -> str:
    """What the summary says of a score a grader gave, so that it never contradicts the judge's verdict."""
    if earlier:
        note = (f"Your grader's score, {score}, was given to the notebook you handed in before this one; "
                "it stands until they review this one.")
    else:
        note = f"Your grader's score: {score}."
    return f"{note} Their comment: {comment}" if comment else note


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback exporter with the kit's template, sanitiser and policy."""

    sanitize_html = Bool(True, help="Always: student markup goes through the kit's sanitiser.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # GenerateFeedback configures nbgrader's own template; the kit's extends it.
        self.extra_template_basedirs = [str(TEMPLATES), str(NBGRADER_TEMPLATES)]
        self.extra_template_paths = [str(NBGRADER_TEMPLATES), str(BOOTSTRAP_CSS)]
        self.template_name = "autograder_feedback"
        self.template_paths = self._template_paths()
        self.sanitize_html = True

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _CACHE
        return environment

    def default_filters(self):
        yield from super().default_filters()
        yield ("clean_html", clean_feedback_html)
        yield ("latex_to_mathml", latex_output_to_html)

    @contextfilter
    def markdown2html(self, context, source):
        """nbconvert's markdown filter with math as MathML (feedback/math.py), remembering what the
        cell's text alone decides: the release's markdown, rendered in the warm-up, is on every
        student's page."""
        cell = context.get("cell", {})

        def render():
            return markdown_to_html(
                source, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
                path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links,
                **self.lexer_options)
        if cell.get("attachments") or self.embed_images:
            return render()  # depends on more than the text
        # Not the notebook's folder: nbconvert reads it only to embed images, which is ruled out
        # above; keyed by it, no student's page (each in a folder of its own) found the release's.
        key = (source, self.anchor_link_text, self.exclude_anchor_links, repr(self.lexer_options))
        return remembered(MARKDOWN, key, render)

    def _verdicts(self, resources) -> dict[str, verdict_records.ExerciseVerdict]:
        """The judge's record for this student: {grade id: its verdict}."""
        info = resources.get("nbgrader", {})
        course = None
        if "JudgeVerdicts" in self.config and "course_directory" in self.config.JudgeVerdicts:
            course = self.config.JudgeVerdicts.course_directory
        elif getattr(self.parent, "coursedir", None) is not None:
            course = self.parent.coursedir.root
        if not course or not info.get("student"):
            return {}
        record = verdict_records.read(Path(course), info["student"], str(info.get("assignment", "")))
        return record.by_exercise() if record else {}

    def _earlier_manual(self, resources) -> dict[str, dict]:
        """A grader's scores given to an earlier notebook of this student (manual_review.py)."""
        info = resources.get("nbgrader", {})
        coursedir = getattr(self.parent, "coursedir", None)
        if coursedir is None or not info.get("student"):
            return {}
        record = class_record.read(Path(coursedir.root), str(info.get("assignment", "")))
        entry = record.students.get(info["student"]) if record else None
        return entry.earlier_manual if entry else {}

    def _summary(self, nb, resources) -> dict:
        verdicts = self._verdicts(resources)
        earlier = self._earlier_manual(resources)
        comments = {str(cell.metadata.nbgrader.get("grade_id", "")): cell.metadata.nbgrader.get("comment")
                    for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("comment")}
        exercises, headings = [], {}
        for cell in nb.cells:
            info = cell.metadata.get("nbgrader", {})
            if not info.get("grade"):
                continue
            grade_id = str(info.get("grade_id", ""))
            score, max_score = info.get("score", 0), info.get("points", 0)
            verdict = verdicts.get(grade_id)
            if cell.cell_type == "code" and not info.get("solution"):
                name = exercise_name(grade_id, verdict)
                full = float(score or 0) >= float(max_score or 0)
                status = verdict.status if verdict else (Status.PASSED if full else Status.FAILED)
                if verdict and (status == Status.PASSED) != full:
                    status = Status.GRADED  # a grader changed the score after the judge
            else:
                name, status = grade_id, Status.GRADED
            message = verdict.message if verdict else ""
            stale = float((earlier.get(grade_id) or {}).get("manual_score", -1)) == float(score or 0)
            note = grader_note(points(score, max_score), stale, comments.get(name) if status == Status.GRADED or stale else None)
            if verdict and (status == Status.GRADED or stale):
                message = f"The judge's verdict on this notebook: {verdict.status}. {message}"
            exercises.append({"grade_id": grade_id, "name": name, "points": points(score, max_score),
                              "status": status, "message": message, "note": note if status == Status.GRADED or stale else ""})
            headings[grade_id] = f"{name} — {points(score, max_score)}"
        info = resources.get("nbgrader", {})
        total = points(info.get("score", 0), info.get("max_score", 0))
        token = secrets.token_hex(16)
        return {"csp": policy.CSP, "total": total,
                "exercises": exercises, "headings": headings,
                "begin": f"<!--kit-student-begin-{token}-->", "end": f"<!--kit-student-end-{token}-->"}

    def _preprocess(self, nb, resources):
        """nbgrader's steps (GetGrades puts the gradebook's scores in), then the kit's summary."""
        nb, resources = super()._preprocess(nb, resources)
        resources["kit"] = self._summary(nb, resources)
        return nb, resources

    def from_notebook_node(self, nb, resources=None, **kw):
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        self.register_filter("highlight_code", self.filters.get(
            "highlight_code", RememberingHighlight(pygments_lexer=lexer, parent=self)))
        resources = self._init_resources(resources)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        kit = resources["kit"]
        head, rest = html.split(kit["begin"], 1)
        student, tail = rest.split(kit["end"], 1)
        html = head + clean_notebook_html(student) + tail
        html = _IMG_WITHOUT_ALT.sub('<img alt="No description has been provided for this image"', html)
        return html, resources


def warm_up(notebook: Path) -> None:
    """Render a trusted notebook (the release) once in this process, before any student's page.

    Students' pages are rendered in a helper forked from this process, a fresh one after any
    failure, which inherits what this process has loaded; warmed here, the templates are compiled,
    pygments' lexers imported and the release's code highlighted once per worker, not once per
    helper (0.34 → 0.14 s for a helper's first page)."""
    nb = nbformat.read(str(notebook), as_version=4)
    FeedbackExporter().from_notebook_node(nb, {"nbgrader": {
        "notebook": notebook.stem, "assignment": notebook.parent.name, "student": "", "score": 0,
        "max_score": 0, "late_penalty": 0}})
