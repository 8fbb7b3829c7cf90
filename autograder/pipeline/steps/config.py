"""The nbgrader configuration of a grading run: nbgrader's own steps with the judge among them."""
from __future__ import annotations

from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.converters.autograde import Autograde
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, Execute,
                                    IgnorePattern, LimitOutput, OverwriteCells)
from traitlets.config import Config

from ...course.manifest import KIT_EXPORTERS
from ...judge.sandbox import Limits
from .cell_metadata import CheckCellMetadataCompiled
from ..feedback.exporter import FeedbackExporter
from ..gradebook.store import COURSE_ID
from .grades_at_once import GetGradesAtOnce, SaveAutoGradesAtOnce
from .judge_verdicts import JudgeVerdicts
from .kernel import LimitedKernelManager
from .release_cells import OverwriteCellsFromRelease

#: nbgrader's default autograde steps, with the judge right after Execute (executor "kernel"),
#: its SaveAutoGrades the one that reads and commits a submission's rows once (grades_at_once.py).
KERNEL_STEPS = [Execute, JudgeVerdicts, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                SaveAutoGradesAtOnce, AssignLatePenalties, CheckCellMetadataCompiled]
#: The same without a Jupyter kernel (executor "sandbox"): the judge's confined child runs the
#: notebook once, its outputs go into the cells, and the same child is then judged.
SANDBOX_STEPS = [JudgeVerdicts, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                 SaveAutoGradesAtOnce, AssignLatePenalties]  # the sanitize pass already ran CheckCellMetadata
EXECUTORS = {"sandbox": SANDBOX_STEPS, "kernel": KERNEL_STEPS}
#: nbgrader's own sanitize pass, its metadata check swapped for the one with the schema compiled
#: once and its OverwriteCells for the one that reads the release's cells once per worker.
_FASTER = {CheckCellMetadata: CheckCellMetadataCompiled, OverwriteCells: OverwriteCellsFromRelease}
SANITIZE_STEPS = [_FASTER.get(step, step) for step in Autograde.class_traits()["sanitize_preprocessors"].default()]


def grading_config(course: Path, db_url: str, limits: Limits,
                   submission_sha256: str = "", executor: str = "sandbox", hide=()) -> Config:
    c = Config()
    c.CourseDirectory.root = str(course)
    c.CourseDirectory.db_url = db_url
    c.CourseDirectory.course_id = COURSE_ID
    c.Autograde.sanitize_preprocessors = SANITIZE_STEPS
    c.Autograde.autograde_preprocessors = EXECUTORS[executor]
    # nbconvert validates the whole notebook after every step unless told to do it once at the end
    # (its own option): the same refusal of a broken notebook, without ten validations a notebook.
    c.Exporter.optimistic_validation = True
    c.JudgeVerdicts.record_outputs = executor == "sandbox"
    c.Execute.timeout = int(max(5, limits.wall_seconds / 4))  # per cell: a looping cell is interrupted, the rest still runs
    c.Execute.interrupt_on_timeout = True
    c.Execute.kernel_manager_class = LimitedKernelManager
    c.LimitedKernelManager.memory_mb = limits.memory_mb
    c.LimitedKernelManager.cpu_seconds = 2 * limits.wall_seconds + 30
    c.JudgeVerdicts.wall_seconds = limits.wall_seconds
    c.JudgeVerdicts.memory_mb = limits.memory_mb
    c.JudgeVerdicts.course_directory = str(course)  # its verdicts/ holds the records (gradebook/verdicts.py)
    c.JudgeVerdicts.submission_sha256 = submission_sha256
    c.JudgeVerdicts.hide_paths = [str(p) for p in hide]
    # Feedback shows the student's code, outputs and the judge's verdicts, never the hidden tests.
    c.GenerateFeedback.preprocessors = [GetGradesAtOnce, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
    c.GenerateFeedback.exporter_class = FeedbackExporter
    c.LimitOutput.max_lines = 200
    c.LimitOutput.max_traceback = 50
    return c


FEEDBACK_STEPS = ["nbgrader.preprocessors.GetGrades", "nbgrader.preprocessors.ClearHiddenTests",
                  "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]
FEEDBACK_EXPORTER = KIT_EXPORTERS[0]  # what tells the folder it is written in from a course


def write_course_config(course: Path, db_url: str) -> None:
    """An nbgrader_config.py in the output folder, so `nbgrader export` etc. work there too."""
    (course / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.CourseDirectory.db_url = {db_url!r}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        # nbgrader's own generate_feedback there (after a manual regrade) writes the kit's pages.
        f"c.GenerateFeedback.preprocessors = {FEEDBACK_STEPS!r}\n"
        f"c.GenerateFeedback.exporter_class = {FEEDBACK_EXPORTER!r}\n"
        + ("# The password is not kept here: libpq reads it from PGPASSWORD or ~/.pgpass.\n"
           if db_url.startswith("postgresql") else ""), encoding="utf-8")
