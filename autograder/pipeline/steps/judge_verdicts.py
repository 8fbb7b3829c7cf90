"""nbgrader preprocessor: replace every judged test cell's outputs with the judge's verdict.

It runs after Execute in `Autograde.autograde_preprocessors`, so SaveAutoGrades, the gradebook,
`nbgrader generate_feedback` and `nbgrader export` all carry the judge's decision, and nothing
the student's kernel printed into a test cell can change a grade.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import nbformat
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from traitlets import Bool, Float, Integer, List, Unicode

from ...course.manifest import tolerances_for
from ...grading.results import Result
from ...grading.status import Status
from ...judge.judge import judge_notebook
from ...judge.sandbox import Limits
from ..gradebook.verdicts import ExerciseVerdict, VerdictRecord

TITLES = {status: status.title() for status in Status}  # an error output's name: "Timeout", ...


def _output(item) -> nbformat.NotebookNode | None:
    """One output in notebook format from the child's plain dict, unchecked; None if not one."""
    kind = item["output_type"]
    if kind == "stream":
        fields = {"name": str(item["name"]), "text": str(item["text"])}
    elif kind == "error":
        fields = {"ename": str(item["ename"]), "evalue": str(item["evalue"]),
                  "traceback": [str(t) for t in item["traceback"]]}
    elif kind in ("execute_result", "display_data"):
        fields = {"data": {str(k): str(v) for k, v in item["data"].items()}, "metadata": {}}
        if kind == "execute_result":
            fields["execution_count"] = None
    else:
        return None
    return nbformat.from_dict({"output_type": kind, **fields})


def valid_outputs(outputs: list) -> bool:
    """Whether a code cell with these outputs is valid nbformat (checked with the whole-notebook
    schema, which nbformat compiles once; new_code_cell would check each cell the slow way)."""
    cell = nbformat.from_dict({"cell_type": "code", "id": "judged", "execution_count": None, "metadata": {},
                               "source": "", "outputs": outputs})
    try:
        nbformat.validate(nbformat.v4.new_notebook(cells=[cell]))
        return True
    except nbformat.ValidationError:
        return False


def cell_outputs(raw: list, valid: Callable[[list], bool] = valid_outputs) -> list:
    """nbformat outputs from the child's plain dicts; anything malformed is dropped.

    All of a cell's outputs are validated at once (`valid`, nbformat's schema unless told
    otherwise); only when that fails, one by one."""
    outputs = []
    for item in raw if isinstance(raw, list) else []:
        try:
            output = _output(item)
        except (KeyError, TypeError, AttributeError):
            continue
        if output is not None:
            outputs.append(output)
    return outputs if valid(outputs) else [o for o in outputs if valid([o])]


def _release_notebook(helpers: Path, name) -> Path | None:
    """The release notebook a submitted one was made from (its prelude is the zygote's to run),
    if the name is a plain file name in the release folder."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        return None
    candidate = helpers / f"{name}.ipynb"
    return candidate if candidate.is_file() else None


def verdict_outputs(result: Result) -> list:
    """The outputs a test cell shows for a verdict: stdout when passed, an error otherwise."""
    if result.passed:
        return [new_output("stream", name="stdout", text=f"✓ {result.message}\n")]
    title = TITLES.get(result.status, result.status.title())
    return [new_output("error", ename=title, evalue=result.message,
                       traceback=[f"\x1b[0;31m{title}\x1b[0m: {result.message}"])]


class JudgeVerdicts(NbGraderPreprocessor):
    """Judge the notebook's functions outside the kernel and write the verdicts into test cells."""

    wall_seconds = Float(120.0, help="Wall time the judge may spend on one notebook.").tag(config=True)
    memory_mb = Integer(1024, help="Memory limit of the judge's child process, in MiB.").tag(config=True)
    course_directory = Unicode("", help="The course folder whose verdicts/ gets the verdict records (gradebook/verdicts.py); "
                                        "none written without it.").tag(config=True)
    submission_sha256 = Unicode("", help="Hash of the submitted file, stored with the verdicts.").tag(config=True)
    resume_key = Unicode("", help="Hash of the limits, manifest, release and kit (resume.resume_key), stored "
                                  "with the verdicts: a rerun keeps them only under the same key.").tag(config=True)
    helpers_directory = Unicode("", help="Folder whose .py files the notebook imports (the release, "
                                         "never the folder a kernel ran in).").tag(config=True)
    hide_paths = List(Unicode(), help="Further paths student code must not see (the submissions, "
                                      "the roster).").tag(config=True)
    record_outputs = Bool(False, help="Write the judge's cell outputs into the notebook (when no kernel "
                                      "executed it: the judge's child is then the notebook's only run).").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        assignment, student = info["assignment"], info["student"]
        here = Path(resources.get("metadata", {}).get("path") or ".").resolve()
        course = here.parents[2] if len(here.parents) > 2 else here  # autograded/<student>/<assignment>
        helpers = Path(self.helpers_directory) if self.helpers_directory else course / "release" / assignment
        judgement = judge_notebook(nb, assignment, helpers,
                                   Limits(wall_seconds=self.wall_seconds, memory_mb=self.memory_mb),
                                   tolerances_for(assignment), hide_also=[course, *self.hide_paths],
                                   release=_release_notebook(helpers, info.get("notebook")))
        by_exercise = {r.exercise: r for r in judgement.results}
        if self.record_outputs:
            count = 0
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    count += 1
                    cell.execution_count = count
                    cell.outputs = cell_outputs(judgement.cell_outputs.get(index, []))
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "code" and is_grade(cell) and not is_solution(cell):
                if grade_id in by_exercise:
                    cell.outputs = verdict_outputs(by_exercise[grade_id])
                else:
                    self.log.warning("test cell %s has no judge check; its kernel output stands", grade_id)
        if self.course_directory:
            VerdictRecord(
                student, assignment, info.get("notebook"), self.submission_sha256, self.resume_key,
                round(judgement.seconds, 3),
                tuple(ExerciseVerdict(r.exercise, r.function, r.status, r.message, r.measured)
                      for r in judgement.results),
                {str(k): v for k, v in judgement.cell_errors.items()},
                {str(k): v for k, v in judgement.skipped_cells.items()},
                round(judgement.cpu_seconds, 3), round(judgement.child_cpu_seconds, 3), judgement.wall_bound,
            ).write(Path(self.course_directory))  # atomically: a killed worker never leaves half a record
        return nb, resources

