"""The release notebook's locked opening runs once in the warm zygote, and every child whose
notebook opens with exactly those cells starts after them: same outputs, same verdicts, no state
passed between students, and a prelude that fails is dropped with the zygote that ran it."""
import copy

import nbformat
import pytest

from autograder.judge.judge import ZygoteLauncher, judge_notebook
from autograder.judge.prelude import locked_opening, release_prelude
from autograder.course.manifest import tolerances_for

from support import ROOT
from support.submissions import load_source, replace_solution
from support import GENEROUS_LIMITS as LIMITS

RELEASE = ROOT / "release" / "gradient_checking"
RELEASE_NB = RELEASE / "gradient_checking.ipynb"
TOL = tolerances_for("gradient_checking", ROOT)


@pytest.fixture
def launcher():
    made = ZygoteLauncher()
    yield made
    made.close()


def _judge(nb, launcher, release=RELEASE_NB, functions=None):
    return judge_notebook(nb, "gradient_checking", RELEASE, LIMITS, TOL, functions=functions, launcher=launcher,
                          release=release)


def _stream(judged, index):
    return "".join(o.get("text", "") for o in judged.cell_outputs.get(index, []) if o["output_type"] == "stream")


def test_the_prelude_is_the_locked_opening_of_the_release():
    cells = release_prelude(RELEASE_NB)
    nb = nbformat.read(RELEASE_NB, as_version=4)
    assert [i for i, _ in cells] == [1, 3, 4]  # imports, the cube example, its plot; cell 6 is an exercise
    assert all(nb.cells[i].source == source for i, source in cells)
    edited = copy.deepcopy(nb)
    edited.cells[3].metadata["nbgrader"]["locked"] = False
    assert [i for i, _ in locked_opening(edited)] == [1]
    assert release_prelude(ROOT / "no such notebook.ipynb") == []


def test_outputs_and_verdicts_are_those_of_a_child_that_runs_every_cell(launcher):
    nb = load_source()
    plain = judge_notebook(nb, "gradient_checking", RELEASE, LIMITS, TOL, launcher=ZygoteLauncher())
    warm = _judge(nb, launcher)
    assert launcher.holds_prelude, "the zygote holds the prelude"
    assert [(r.function, r.status, r.message) for r in warm.results] == \
        [(r.function, r.status, r.message) for r in plain.results]
    assert warm.cell_outputs == plain.cell_outputs  # the opening's text and its figure, byte for byte
    assert any(o["output_type"] == "display_data" for o in warm.cell_outputs[4])


def test_a_notebook_that_changed_its_opening_runs_its_own(launcher):
    nb = load_source()
    nb.cells[3].source += '\nprint("my own opening")'
    judged = _judge(nb, launcher, functions=["forward_propagation"])
    assert "my own opening" in _stream(judged, 3)
    assert launcher.holds_prelude  # held for the notebooks that open as the release does


def test_no_student_sees_what_another_did_to_the_preludes_state(launcher):
    meddler = replace_solution(load_source(), "forward_propagation", (
        "import gc_utils, matplotlib.pyplot as plt\n"
        "theta = 99.0\n"
        "f = None\n"
        "gc_utils.planted = 'by a classmate'\n"
        "plt.rcParams['lines.linewidth'] = 9\n"
        "def forward_propagation(x, theta):\n    return theta * x\n"))
    _judge(meddler, launcher, functions=["forward_propagation"])
    looker = replace_solution(load_source(), "forward_propagation", (
        "import gc_utils, matplotlib.pyplot as plt\n"
        "print(theta, f(2.0), getattr(gc_utils, 'planted', 'nothing'), plt.rcParams['lines.linewidth'])\n"
        "def forward_propagation(x, theta):\n    return theta * x\n"))
    judged = _judge(looker, launcher, functions=["forward_propagation"])
    assert _stream(judged, 6).split() == ["1.0", "8.0", "nothing", "1.5"]


def test_a_failing_prelude_is_declined_and_its_zygote_replaced(launcher, tmp_path):
    release = nbformat.read(RELEASE_NB, as_version=4)
    release.cells[3].source = "import json\njson.loads = None\nraise RuntimeError('the instructor broke it')"
    broken = tmp_path / "gradient_checking.ipynb"
    nbformat.write(release, broken)
    launcher.start()
    first = launcher.pid
    nb = load_source()
    nb.cells[3].source = release.cells[3].source
    judged = _judge(nb, launcher, release=broken, functions=["forward_propagation"])
    assert not launcher.holds_prelude and launcher.pid not in (None, first)  # the half-run interpreter is gone
    assert "the instructor broke it" in str(judged.cell_outputs[3])  # the child ran the cell itself
    assert [r.status for r in judged.results] == ["passed"]
    assert launcher.prelude(release_prelude(broken), RELEASE) is False  # and it is not tried again
