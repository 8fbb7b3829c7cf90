"""The judge: a misbehaving function costs its own exercise, never the others or the judge."""
import copy
import re

import pytest

from autograder.judge.judge import judge_notebook
from autograder.judge.sandbox import Limits

from support import SOURCE

ALL = ["forward_propagation", "backward_propagation", "gradient_check", "dictionary_to_vector",
       "vector_to_dictionary", "gradients_to_vector", "forward_propagation_n", "backward_propagation_n",
       "gradient_check_n"]


def with_body(nb, function, prefix):
    """nb with `prefix` run at the start of function's body."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == function:
            head, _, rest = cell.source.partition('    """\n')
            doc_end = rest.index('    """\n') + len('    """\n')
            cell.source = head + '    """\n' + rest[:doc_end] + "".join(
                "    " + line + "\n" for line in prefix.splitlines()) + rest[doc_end:]
            return nb
    raise KeyError(function)


def with_cell(nb, source):
    from nbformat.v4 import new_code_cell
    nb = copy.deepcopy(nb)
    nb.cells.append(new_code_cell(source))
    return nb


def statuses(nb, seconds=20):
    judged = judge_notebook(nb, "gradient_checking", SOURCE, Limits(wall_seconds=seconds, memory_mb=768))
    return {r.function: r.status for r in judged.results}, judged


# (label, how to break it, function that must lose, status it gets)
CASES = [
    ("infinite loop", lambda nb: with_body(nb, "forward_propagation", "while True:\n    pass"), "forward_propagation", "timeout"),
    ("segfault", lambda nb: with_body(nb, "backward_propagation_n", "import ctypes\nctypes.string_at(0)"), "backward_propagation_n", "error"),
    ("memory bomb", lambda nb: with_body(nb, "vector_to_dictionary", "x = bytearray(8 * 1024 ** 3)"), "vector_to_dictionary", "error"),
    ("sys.exit", lambda nb: with_body(nb, "gradients_to_vector", "import sys\nsys.exit(0)"), "gradients_to_vector", "error"),
    ("os._exit", lambda nb: with_body(nb, "dictionary_to_vector", "import os\nos._exit(0)"), "dictionary_to_vector", "error"),
    ("not plain data", lambda nb: with_body(nb, "forward_propagation", "return lambda: 1"), "forward_propagation", "error"),
    ("forged reply", lambda nb: with_body(nb, "backward_propagation",
                                          "import os, sys\nos.write(int(sys.argv[2]), b'\\xff' * 8 + b'garbage')"),
     "backward_propagation", "error"),
    ("KeyboardInterrupt", lambda nb: with_body(nb, "gradient_check", "raise KeyboardInterrupt"), "gradient_check", "error"),
]


@pytest.mark.parametrize("label,breaker,victim,status", CASES, ids=[c[0] for c in CASES])
def test_a_misbehaving_function_loses_only_its_own_exercise(solved_notebook, label, breaker, victim, status):
    got, _ = statuses(breaker(solved_notebook))
    assert got[victim] == status
    assert all(s == "passed" for f, s in got.items() if f != victim), got


@pytest.mark.parametrize("cell", ["import os\nos._exit(3)", "while True:\n    pass", "import ctypes\nctypes.string_at(0)"])
def test_a_cell_that_kills_or_hangs_the_loader_is_skipped(solved_notebook, cell):
    got, judged = statuses(with_cell(solved_notebook, cell))
    assert all(s == "passed" for s in got.values()), got
    assert judged.skipped_cells or judged.cell_errors


def test_the_untouched_release_is_missing_everywhere():
    import nbformat
    from support import ROOT
    nb = nbformat.read(ROOT / "release" / "gradient_checking" / "gradient_checking.ipynb", as_version=4)
    got, _ = statuses(nb)
    assert set(got.values()) == {"missing"} and set(got) == set(ALL)


def test_the_kits_reference_is_swapped_in_only_through_the_trusted_side(solved_notebook):
    """A checker that calls its dependencies gets the trusted answers over the pipe, and passes."""
    got, _ = statuses(solved_notebook)
    assert set(got.values()) == {"passed"}


def test_an_output_flood_is_capped_not_fatal(solved_notebook):
    got, judged = statuses(with_cell(solved_notebook, "print('x' * 10**6)\n" * 30))
    assert all(s == "passed" for s in got.values()), got
    flood = judged.cell_outputs[len(solved_notebook.cells)]
    assert "more characters not shown" in flood[0]["text"] and len(flood[0]["text"]) < 200_000


def test_cell_outputs_are_collected_like_a_kernel(solved_notebook):
    _, judged = statuses(with_cell(solved_notebook, "import sys\nprint('out')\nprint('err', file=sys.stderr)\n"
                                                    "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n6 * 7"))
    outputs = judged.cell_outputs[len(solved_notebook.cells)]
    kinds = [(o["output_type"], o.get("name")) for o in outputs]
    assert kinds[:3] == [("stream", "stdout"), ("stream", "stderr"), ("execute_result", None)]
    assert outputs[2]["data"]["text/plain"] == "42"
    assert any("image/png" in o.get("data", {}) for o in outputs)


FIGURE = r"""import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
eps = np.logspace(-10, -1, 19)
plt.loglog(eps, eps ** 2 + 1e-12 / eps, "o-", label=r"$\varepsilon^2$ + rounding")
plt.axhline(1e-7, color="gray", linestyle="--", label="1e-7")
plt.title("Rounding error on the left, truncation error on the right: QWXYZ jkq 0123456789 !?%&@")
plt.xlabel("epsilon (ε)")
plt.ylabel("difference")
plt.legend()
"""


def test_a_childs_figure_is_drawn_as_a_fresh_interpreter_draws_it(solved_notebook):
    """Every glyph: the warm interpreter's fonts were opened before the child closed their files."""
    import base64
    import subprocess
    import sys
    # Files the student opens first take the lowest free numbers: those of the fonts, if closed.
    _, judged = statuses(with_cell(solved_notebook, "held = [open(f'held{i}.txt', 'w') for i in range(16)]\n" + FIGURE))
    pngs = [o["data"]["image/png"] for o in judged.cell_outputs[len(solved_notebook.cells)] if "image/png" in o.get("data", {})]
    fresh = subprocess.run([sys.executable, "-c", FIGURE + "import io, base64, sys\nb = io.BytesIO()\n"
                            "plt.gcf().savefig(b, format='png', dpi=72)\nsys.stdout.write(base64.b64encode(b.getvalue()).decode())"],
                           capture_output=True, text=True)
    assert fresh.returncode == 0, fresh.stderr
    fresh = fresh.stdout
    assert len(pngs) == 1 and base64.b64decode(pngs[0]) == base64.b64decode(fresh)


def test_a_students_exception_shows_its_type_never_its_message_nor_its_line(solved_notebook):
    """Its message, and the line it is raised from, can echo a hidden case's inputs; the cell's
    own output (feedback) keeps them."""
    nb = with_body(solved_notebook, "forward_propagation", "raise ValueError('THETA=%r' % (theta,))")
    nb = with_body(nb, "backward_propagation",
                   "raise type('Leak_%d' % int(abs(x) * 1000), (Exception,), {})('X=%r' % (x,))")
    nb = with_cell(nb, "raise ValueError('the notebook itself says this')")
    got, judged = statuses(nb)
    messages = {r.function: r.message for r in judged.results}
    assert got["forward_propagation"] == got["backward_propagation"] == "error"
    assert messages["forward_propagation"].endswith(": ValueError (the visible tests in the notebook show where)")
    assert "line " not in messages["forward_propagation"] and "THETA" not in messages["forward_propagation"]
    assert not re.search(r"THETA=[^%]", messages["forward_propagation"])  # never the value
    assert not re.search(r"Leak_\d", messages["backward_propagation"]) and not re.search(r"X=[^%]", messages["backward_propagation"])
    assert "a class the notebook defines" in messages["backward_propagation"]
    assert "the notebook itself says this" in judged.cell_errors[len(nb.cells) - 1]
