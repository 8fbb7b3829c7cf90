"""nbgrader's feedback HTML, rendered faster in a long-lived grading worker.

nbgrader builds a new HTMLExporter for every student, so Jinja compiles the same templates
again each time, and nbconvert then re-parses its own output with BeautifulSoup to add
accessibility attributes. This exporter keeps the compiled templates in memory for the worker's
life and adds the missing alt texts with one substitution (nbgrader's feedback template is the
classic one, which the other attributes' selectors never match). It is plugged in through nbgrader's
own setting, `GenerateFeedback.exporter_class`.
"""
from __future__ import annotations

import re

from jinja2 import BytecodeCache
from nbconvert.exporters import HTMLExporter
from nbconvert.exporters.templateexporter import TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter


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
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)")


class FeedbackExporter(HTMLExporter):
    """HTMLExporter with compiled templates shared across students and no second parse."""

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _CACHE
        return environment

    def from_notebook_node(self, nb, resources=None, **kw):
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        self.register_filter("highlight_code", self.filters.get(
            "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
        resources = self._init_resources(resources)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        html = _IMG_WITHOUT_ALT.sub('<img alt="No description has been provided for this image"', html)
        return html, resources
