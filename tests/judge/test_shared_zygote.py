"""One warm zygote for all of `grade`'s forked workers: each judges through its own connection,
gets the verdicts an own zygote gives, and goes on with an own zygote when the shared one has
gone; only the process that started it stops it. Its children read matplotlib's fonts through
files of their own (a closed or shared font file broke or could garble a student's plot)."""
import json
import os
import signal
import time

import nbformat
import pytest

from autograder.judge.judge import ZygoteLauncher, judge_notebook
from autograder.course.manifest import tolerances_for

from support import ROOT
from support.submissions import load_source
from support import GENEROUS_LIMITS as LIMITS

RELEASE = ROOT / "release" / "gradient_checking"
RELEASE_NB = RELEASE / "gradient_checking.ipynb"
TOL = tolerances_for("gradient_checking", ROOT)


def _judge(nb, launcher, functions=("forward_propagation", "gradient_check_n"), release=RELEASE_NB):
    judged = judge_notebook(nb, "gradient_checking", RELEASE, LIMITS, TOL, functions=list(functions),
                            launcher=launcher, release=release)
    return [(r.function, r.status, r.message) for r in judged.results], judged


@pytest.fixture
def shared():
    owner = ZygoteLauncher()
    connections = owner.share(2)
    adopted = [ZygoteLauncher(adopted=c) for c in connections]
    yield owner, adopted
    for launcher in adopted:
        launcher.close()
    owner.close()


def test_two_judges_share_one_zygote_and_get_the_verdicts_of_an_own_one(shared):
    owner, (first, second) = shared
    nb = load_source()
    own = ZygoteLauncher()
    try:
        expected, _ = _judge(nb, own)
    finally:
        own.close()
    assert _judge(nb, first)[0] == expected
    assert _judge(nb, second)[0] == expected
    assert first.pid is None and second.pid is None  # neither started one of its own
    assert first.holds_prelude and second.holds_prelude  # the prelude ran once, for both


def test_a_judge_whose_shared_zygote_died_goes_on_with_its_own(shared):
    owner, (first, second) = shared
    nb = load_source()
    expected, _ = _judge(nb, first)
    os.kill(owner.pid, signal.SIGKILL)
    deadline = time.monotonic() + 60  # a bound for a stuck zygote, not a speed assertion
    while owner.running and time.monotonic() < deadline:  # running polls it, and so reaps it
        time.sleep(0.01)
    assert _judge(nb, second)[0] == expected
    assert second.running  # its own now
    assert _judge(nb, first)[0] == expected


def test_a_judge_leaving_does_not_stop_the_zygote_for_the_others(shared):
    owner, (first, second) = shared
    nb = load_source()
    expected, _ = _judge(nb, first)
    first.close()
    assert owner.running
    assert _judge(nb, second)[0] == expected and second.pid is None


def test_only_the_process_that_started_the_zygote_stops_it(shared):
    owner, (first, _) = shared
    home = owner.home
    pid = os.fork()
    if pid == 0:  # a forked worker that ends (atexit, say) with its parent's launcher in memory
        try:
            owner.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert owner.running and home.is_dir()
    assert _judge(load_source(), first)[0][0][1] == "passed"
    owner.close()
    assert owner.pid is None and not home.exists()


def test_a_half_run_prelude_ends_the_shared_zygote_for_every_judge(shared, tmp_path):
    owner, (first, second) = shared
    release = nbformat.read(RELEASE_NB, as_version=4)
    release.cells[3].source = "import json\njson.loads = None\nraise RuntimeError('the instructor broke it')"
    broken = tmp_path / "gradient_checking.ipynb"
    nbformat.write(release, broken)
    nb = load_source()
    nb.cells[3].source = release.cells[3].source
    verdicts, judged = _judge(nb, first, functions=["forward_propagation"], release=broken)
    assert [s for _, s, _ in verdicts] == ["passed"] and "the instructor broke it" in str(judged.cell_outputs[3])
    deadline = time.monotonic() + 60  # a bound for a stuck zygote, not a speed assertion
    while owner.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not owner.running  # nobody's child starts from what half a prelude left
    verdicts, judged = _judge(nb, second, functions=["forward_propagation"], release=broken)
    assert [s for _, s, _ in verdicts] == ["passed"] and second.pid is not None


FONT_FILES = """import json, os
files = {}
for name in os.listdir("/proc/self/fd"):
    try:
        path = os.readlink(f"/proc/self/fd/{name}")
    except OSError:
        continue
    if path.endswith(".ttf"):
        files[name] = [path, os.lseek(int(name), 0, os.SEEK_CUR)]
        os.lseek(int(name), 123457, os.SEEK_SET)
print(json.dumps(files))
"""


def _font_files(pid):
    fonts = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:  # the zygote's pipes to a child come and go between listing and reading
            path = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:
            continue
        if path.endswith(".ttf"):
            with open(f"/proc/{pid}/fdinfo/{name}") as info:
                fonts[name] = [path, int(info.read().split("pos:")[1].split()[0])]
    return fonts


def test_a_child_reads_the_zygotes_fonts_through_files_of_its_own(shared):
    """FreeType reads glyphs from fonts the zygote opened (its warm-up plot, parsed tick labels):
    the child holds each at the same number, and moving it moves only its own."""
    owner, (first, _) = shared
    nb = load_source()
    _judge(nb, first, functions=["forward_propagation"])  # the prelude has run: the zygote opens nothing more
    before = _font_files(owner.pid)
    assert before, "the zygote holds matplotlib's fonts open"
    nb.cells.append(nbformat.v4.new_code_cell(FONT_FILES))
    _, judged = _judge(nb, first, functions=["forward_propagation"])
    seen = json.loads("".join(o.get("text", "") for o in judged.cell_outputs[len(nb.cells) - 1]))
    assert {n: path for n, (path, _) in before.items()} == {n: seen[n][0] for n in before if n in seen}
    assert _font_files(owner.pid) == before  # the child's reads and its lseek moved only its own
