"""Smoke test of benchmarks/identical_outputs.py's comparison (issue 22), so it cannot rot unnoticed.

No grading: two tiny synthetic OUT folders (a CSV, a feedback page, a gradebook made with
nbgrader's own tables and models, so every row has its own random id), compared as the script
compares two commits' outputs. A few seconds.
"""
import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
from support import ROOT


@pytest.fixture(scope="module")
def identical():
    spec = importlib.util.spec_from_file_location("identical_outputs", ROOT / "benchmarks" / "identical_outputs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


TIMED_CELL = """<div id="cell-id=c1" class="cell border-box-sizing code_cell rendered">
<div class="input"><pre>print(f"N = {{n}}: the check took {{ratio}} times as long as backprop.")</pre></div>
<div class="output_wrapper">
<pre>N = 4545: the check took {ratio} times as long as backprop.
forward passes counted: [38, 90]
</pre>
<img alt="plot" src="data:image/png;base64,{png}">
</div></div>
"""
OTHER_CELL = """<div id="cell-id=c2" class="cell border-box-sizing code_cell rendered">
<div class="output_wrapper"><pre>{text}</pre><img src="data:image/png;base64,{png}"></div></div>
"""


def page(ratio=2995, png="iVBORw0KGgoAAAA", counted="[38, 90]", other_png="AAAA"):
    return ("<html><body>\n" + TIMED_CELL.format(ratio=ratio, png=png).replace("[38, 90]", counted)
            + OTHER_CELL.format(text="difference 0.173", png=other_png) + "</body></html>\n")


def make_out(out: Path, score: float = 1.0, comment: str = "passed", csv: str = "s001,gc,1,1,passed\n",
             feedback: str = None) -> Path:
    from nbgrader import api
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session
    out.mkdir(parents=True)
    (out / "scores.csv").write_text("student_id,assignment,score,max_score,status\n" + csv)
    pages = out / "feedback" / "s001" / "gc"
    pages.mkdir(parents=True)
    (pages / "gc.html").write_text(feedback or page())
    # nbgrader's own tables and models (its Gradebook() would also run `alembic heads`: seconds)
    engine = create_engine(f"sqlite:///{out / 'gradebook.db'}")
    api.Base.metadata.create_all(engine)
    with Session(engine) as db:
        course = api.Course(id="course")
        assignment = api.Assignment(name="gc", course=course)
        notebook = api.Notebook(name="gc", assignment=assignment)
        graded = api.GradeCell(name="test_one", notebook=notebook, max_score=1, cell_type="code")
        solution = api.SolutionCell(name="test_one", notebook=notebook)
        source = api.SourceCell(name="test_one", notebook=notebook, cell_type="code", locked=True, source="x = 1")
        submission = api.SubmittedAssignment(assignment=assignment, student=api.Student(id="s001"))
        submitted = api.SubmittedNotebook(assignment=submission, notebook=notebook)
        db.add_all([course, assignment, notebook, graded, solution, source, submission, submitted,
                    api.Grade(cell=graded, notebook=submitted, auto_score=score),
                    api.Comment(cell=solution, notebook=submitted, auto_comment=comment)])
        db.commit()
    engine.dispose()
    return out


def test_two_runs_alike_are_identical_though_every_gradebook_id_differs(identical, tmp_path):
    a = make_out(tmp_path / "a")
    b = make_out(tmp_path / "b", feedback=page(ratio=3104, png="iVBORw0KGgoBBBB"))  # another run's timing
    found = identical.compare_outputs(a, b)
    assert found.differences == []
    kinds = found.kinds
    assert (kinds["CSV"].compared, kinds["CSV"].identical) == (1, 1)
    assert (kinds["feedback page"].compared, kinds["feedback page"].identical) == (1, 1)
    assert kinds["feedback page"].normalised == 1
    assert kinds["gradebook row"].compared == kinds["gradebook row"].identical > 10  # every table's rows
    assert kinds["gradebook table"].compared == kinds["gradebook table"].identical >= 12  # nbgrader's tables


@pytest.mark.parametrize("change, where", [
    ({"csv": "s001,gc,0,1,failed\n"}, "scores.csv differs"),
    ({"score": 0.0}, "column auto_score: A 1.0"),
    ({"comment": "failed"}, "column auto_comment"),
    ({"feedback": page(counted="[38, 91]")}, "gc.html differs"),  # the timed cell's other output lines count
    ({"feedback": page(other_png="BBBB")}, "gc.html differs"),  # another cell's plot is compared as it is
])
def test_a_changed_cell_score_or_page_is_reported(identical, tmp_path, change, where):
    found = identical.compare_outputs(make_out(tmp_path / "a"), make_out(tmp_path / "b", **change))
    assert len(found.differences) == 1 and where in found.differences[0], found.differences


def test_a_missing_file_or_row_is_reported(identical, tmp_path):
    a, b = make_out(tmp_path / "a"), make_out(tmp_path / "b")
    shutil.rmtree(b / "feedback")
    import sqlite3
    with sqlite3.connect(b / "gradebook.db") as db:
        db.execute("DELETE FROM comment")
    found = identical.compare_outputs(a, b)
    assert any("gc.html: only in A" in d for d in found.differences)
    assert any("comment row only in A" in d for d in found.differences)
