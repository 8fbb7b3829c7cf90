"""`autograder formgrader OUT`: a refused folder; and, with one server started on a graded class in
which one student's notebook attacks the grader's browser, in headless Chromium: no script of the
student's runs, nothing leaves for another origin, no kernel starts, the server is not root and
runs no code, the judge's message reads whole, math renders offline, the URL is printed last,
and manual grading still saves in the gradebook (given back to its owner afterwards).

The instructor's own path through the formgrader (the judge's scores listed, a manual grade
carried into nbgrader's export) is tests/end_to_end/test_instructor_path.py."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.formgrader import csp
from autograder.formgrader.launch import FORMGRADER_UID, lent_folder, lent_gradebook
from autograder.formgrader.mathml import to_mathml
from autograder.pipeline.gradebook.store import COURSE_ID, sqlite_url
from support import ROOT
from support.browser import RequestLog, chromium, formgrader_grading_page_ready, formgrader_server, save_in_formgrader

ASSIGNMENT = NOTEBOOK = "gradient_checking"
ATTACKER = "bug_backprop_dW2"  # the judge failed backward_propagation_n: its message is long
LOST = "backward_propagation_n"
#: What the attacks do if they run: a flag on the page, a request to the watching server, a kernel.
RUN = "window.pwned = (window.pwned || []).concat('{tag}'); fetch('{log}/{tag}'); " \
      "fetch('/api/kernels', {{method: 'POST', body: '{{}}'}})"


def attacks(log: str) -> tuple[list[str], list[dict]]:
    """(markdown cells, display outputs) that each try to run script in the grader's browser."""
    run = lambda tag: RUN.format(tag=tag, log=log)  # noqa: E731
    markdown = [
        f"<script>{run('script')}</script>",
        f'<img src="x" onerror="{run("onerror")}">',
        "[a link](javascript:window.pwned=['md-link']) and <a href=\"javascript:window.pwned=['a-link']\">another</a>",
        f'<svg xmlns="http://www.w3.org/2000/svg" onload="{run("svg-onload")}"><script>{run("svg-script")}</script></svg>',
        f'<iframe src="javascript:parent.pwned=[\'iframe\']"></iframe><iframe srcdoc="<script>parent.pwned=[\'srcdoc\']</script>"></iframe>',
        f'<object data="{log}/object"></object><embed src="{log}/embed"><link rel="stylesheet" href="{log}/css">'
        f'<img src="{log}/img.png"><meta http-equiv="refresh" content="0; url={log}/refresh">',
        r"The check: $\frac{\partial J}{\partial \theta} \approx \frac{J(\theta + \varepsilon) - J(\theta - \varepsilon)}{2 \varepsilon}$"
        r" and $\href{javascript:window.pwned=['tex']}{x} \text{<img src=x onerror=window.pwned=['text']>}$",
    ]
    outputs = [
        nbformat.v4.new_output("display_data", data={
            "text/html": f"<b>rich</b><script>{run('html-output')}</script><img src=x onerror=\"{run('html-img')}\">",
            "application/javascript": run("js-output"), "text/plain": "rich"}),
        nbformat.v4.new_output("display_data", data={
            "text/html": f"<script>{run('isolated')}</script>"}, metadata={"text/html": {"isolated": True}}),
        nbformat.v4.new_output("display_data", data={
            "image/svg+xml": f'<svg xmlns="http://www.w3.org/2000/svg"><script>{run("svg-output")}</script></svg>'}),
        nbformat.v4.new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "m1", "version_major": 2, "version_minor": 0},
            "text/plain": "a widget"}),
    ]
    return markdown, outputs


def plant_attacks(out: Path, log: str) -> None:
    """The attacker's graded notebook in OUT, as if its cells and outputs had come through grading."""
    path = out / "autograded" / ATTACKER / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    nb = nbformat.read(path, as_version=4)
    markdown, outputs = attacks(log)
    code = nbformat.v4.new_code_cell("show()", outputs=outputs)
    nb.cells[1:1] = [nbformat.v4.new_markdown_cell(text) for text in markdown] + [code]
    fake = nbformat.v4.new_markdown_cell("graded?")
    fake.metadata["nbgrader"] = {"grade": True, "solution": False, "points": 1,
                                 "grade_id": f'x"><img src=x onerror="{RUN.format(tag="grade-id", log=log)}">'}
    nb.cells.insert(1, fake)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    path.chmod(0o644)
    nbformat.write(nb, path)


def copy_of_graded(graded: Path, to: Path) -> Path:
    """A copy of a graded OUT that names itself (its nbgrader_config.py names the folder and its gradebook)."""
    shutil.copytree(graded, to, symlinks=True)
    to.chmod(0o755)  # as `grade` makes it (the fixture's folder is a private temporary one)
    config = to / "nbgrader_config.py"
    config.write_text(config.read_text(encoding="utf-8").replace(str(graded), str(to)), encoding="utf-8")
    return to


def server_process(launcher: int) -> int:
    children = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def descendants(pid: int) -> list[str]:
    """The command lines of every process under pid."""
    found, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            try:
                found.append(Path(f"/proc/{child}/cmdline").read_text(errors="replace").replace("\0", " "))
            except (FileNotFoundError, ProcessLookupError):  # it ended since it was listed
                continue
            todo.append(child)
    return found


def _children(pid: int) -> list[int]:
    """The children of pid's threads; none when pid has ended."""
    try:
        return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None  # a redirect (to the login page) is the answer


def status_of(url: str) -> int:
    try:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}), _Stay).open(url, timeout=60).status
    except urllib.error.HTTPError as refused:
        return refused.code


@pytest.fixture(scope="module")
def attacked(graded_samples, tmp_path_factory):
    """One formgrader server on a copy of the graded samples with the attacker's notebook planted;
    the grader opens the attacker's submission in Chromium and gives a manual grade and comment."""
    out = copy_of_graded(graded_samples(ASSIGNMENT).out, tmp_path_factory.mktemp("formgrader") / "out")
    gradebook = out / "gradebook.db"
    owner = gradebook.stat().st_uid, gradebook.stat().st_gid
    os.chmod(out, 0o700)  # as `grade` makes it
    folder = lambda: (out.stat().st_mode & 0o777, out.stat().st_gid)  # noqa: E731
    seen = {"out_before": folder()}
    with RequestLog() as watch:
        plant_attacks(out, f"{watch.url}/attack")
        log = out.parent / "formgrader-command.log"
        argv = [sys.executable, "-m", "autograder", "formgrader", str(out)]
        with formgrader_server(argv, log, cwd=ROOT) as (url, launcher), chromium() as browser:
            base, token = url.split("/formgrader")[0], url.split("token=")[1]
            server = server_process(launcher.pid)
            seen["uid"] = uid_of(server)
            seen["cmdlines"] = [Path(f"/proc/{p}/cmdline").read_text(errors="replace") for p in (launcher.pid, server)]
            seen["without_token"] = status_of(f"{base}/formgrader/api/grades?submission_id=x")
            seen["kernels_api"] = status_of(f"{base}/api/kernels?token={token}")
            seen["autograde_api"] = status_of(f"{base}/formgrader/api/submission/{ASSIGNMENT}/{ATTACKER}/autograde?token={token}")
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            elsewhere = seen["elsewhere"] = []
            context.route(lambda u: not u.startswith(base), lambda route: (elsewhere.append(route.request.url), route.abort()))
            page = context.new_page()
            page.goto(url)
            with Gradebook(sqlite_url(gradebook), COURSE_ID) as gb:
                submission = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, ATTACKER).id
            response = page.goto(f"{base}/formgrader/submissions/{submission}/")
            seen["policy"] = response.headers["content-security-policy"]
            formgrader_grading_page_ready(page)
            save_in_formgrader(page, f"#test_{LOST}", "2", "grade")
            save_in_formgrader(page, f"#{LOST}-comment", "Close: one stray factor.", "comment")
            page.wait_for_timeout(1000)  # any late attack (onerror, timers) has had its chance
            seen["pwned"] = page.evaluate("() => window.pwned || null")
            seen["javascript_links"] = page.locator("a[href^='javascript']").count()
            seen["frames"] = len(page.frames)
            seen["message"] = page.evaluate("""() => {
                const pre = [...document.querySelectorAll('pre')].find(p => p.textContent.includes('stray factor'));
                const box = pre.getBoundingClientRect(), cell = pre.closest('.output_wrapper').getBoundingClientRect();
                return {whole: pre.scrollWidth <= pre.clientWidth + 1, inside: box.right <= cell.right + 1,
                        lines: Math.round(box.height / parseFloat(getComputedStyle(pre).lineHeight))};
            }""")
            seen["formula"] = page.evaluate("""() => {
                const math = [...document.querySelectorAll('math')];
                return {count: math.length, width: math.length ? math[0].getBoundingClientRect().width : 0,
                        tex: document.body.innerText.includes('\\\\frac')};
            }""")
            seen["processes"] = descendants(launcher.pid)
            seen["out_during"] = folder()
            context.close()
        # Only the attacks' paths: another process on a shared machine may knock on any local port.
        seen["requests"] = [path for path in watch.requests if path.startswith("/attack")]
    seen["printed"] = log.read_text(errors="replace")
    seen["url"] = url
    seen["server_log"] = out / "logs" / "formgrader.log"
    with Gradebook(sqlite_url(gradebook), COURSE_ID) as gb:
        seen["grade"] = gb.find_grade(f"test_{LOST}", NOTEBOOK, ASSIGNMENT, ATTACKER).manual_score
        seen["comment"] = gb.find_comment(LOST, NOTEBOOK, ASSIGNMENT, ATTACKER).manual_comment
    seen["owner_before"], seen["owner_after"] = owner, (gradebook.stat().st_uid, gradebook.stat().st_gid)
    seen["out_after"] = folder()
    return seen


def test_formgrader_refuses_a_folder_that_was_not_graded(tmp_path):
    result = subprocess.run([sys.executable, "-m", "autograder", "formgrader", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "run `./kit grade" in result.stderr


def test_no_script_of_the_students_runs_and_nothing_leaves_for_another_origin(attacked):
    assert attacked["pwned"] is None
    assert attacked["requests"] == [] and attacked["elsewhere"] == []
    assert attacked["javascript_links"] == 0 and attacked["frames"] == 1


def test_the_policy_allows_no_inline_script_but_the_templates_and_no_other_origin(attacked):
    policy = dict(d.split(" ", 1) for d in attacked["policy"].split("; "))
    sources = policy["script-src"].split()
    assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources
    assert all(s.startswith("'sha256-") or s == "'unsafe-hashes'" or s.endswith("/formgrader/static/")
               for s in sources), sources
    assert policy["default-src"] == "'none'" and policy["frame-src"] == "'none'"


def test_the_server_runs_no_code_and_is_not_root(attacked):
    assert attacked["kernels_api"] == 404 and attacked["autograde_api"] == 403
    assert not [p for p in attacked["processes"] if "kernel" in p], attacked["processes"]
    assert attacked["uid"] != 0 if os.geteuid() == 0 else attacked["uid"] == os.geteuid()


def test_the_token_is_needed_and_never_on_a_command_line_or_in_a_readable_log(attacked):
    token = attacked["url"].split("token=")[1]
    assert attacked["without_token"] in (302, 403)  # to the login page, or refused
    assert not [c for c in attacked["cmdlines"] if token in c]
    assert token not in attacked["server_log"].read_text(errors="replace")
    assert attacked["server_log"].stat().st_mode & 0o077 == 0


def test_the_url_is_printed_last_and_the_servers_log_goes_to_its_file(attacked):
    lines = [line.strip() for line in attacked["printed"].splitlines() if line.strip()]
    assert lines[-1] == attacked["url"]
    assert "FormgraderServer" not in attacked["printed"]
    assert "Jupyter Server" in attacked["server_log"].read_text(errors="replace")


def test_manual_grading_saves_in_the_gradebook_given_back_to_its_owner(attacked):
    assert (attacked["grade"], attacked["comment"]) == (2, "Close: one stray factor.")
    assert attacked["owner_after"] == attacked["owner_before"]


def test_out_stays_closed_to_other_users_and_only_the_server_is_let_in(attacked):
    """On OUT closed to other users (0700, as `grade` makes it), a server started by root runs as the
    formgrader's own uid, lent OUT's group for as long as it runs; OUT is as it was afterwards."""
    mode, group = attacked["out_before"]
    if attacked["uid"] == FORMGRADER_UID:
        assert attacked["out_during"] == (0o750, FORMGRADER_UID)
    assert attacked["out_after"] == (mode, group)


@pytest.mark.skipif(os.geteuid() != 0, reason="lending OUT's group is root's")
def test_out_left_lent_by_a_killed_server_is_given_back_to_its_owner(tmp_path):
    """A server SIGKILLed leaves OUT in the formgrader's group with g+rx and the gradebook the
    formgrader's: the next one gives them back to OUT's owner (OUT 0700), not as the killed one left them."""
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, 0, FORMGRADER_UID)
    os.chmod(out, 0o750)
    (out / "nbgrader_config.py").write_text(f"c.CourseDirectory.db_url = 'sqlite:///{out / 'gradebook.db'}'\n")
    sqlite3.connect(out / "gradebook.db").close()
    os.chown(out / "gradebook.db", FORMGRADER_UID, FORMGRADER_UID)
    with lent_folder(out, FORMGRADER_UID), lent_gradebook(out, FORMGRADER_UID):
        assert (out.stat().st_mode & 0o777, out.stat().st_gid) == (0o750, FORMGRADER_UID)
    assert (out.stat().st_mode & 0o777, out.stat().st_gid) == (0o700, 0)
    assert [(p.name, p.stat().st_uid, p.stat().st_gid) for p in out.glob("gradebook.db*")] == [("gradebook.db", 0, 0)]


def test_the_judges_message_reads_whole_and_math_renders_offline(attacked):
    message = attacked["message"]
    assert message["whole"] and message["inside"] and message["lines"] >= 2, message
    formula = attacked["formula"]
    assert formula["count"] >= 1 and formula["width"] > 0 and not formula["tex"], formula


@pytest.mark.parametrize("tex", [r"\href{javascript:alert(1)}{x}", r"\text{<script>alert(1)</script>}",
                                 r"\text{<img src=x onerror=alert(1)>}"])
def test_mathml_keeps_no_link_or_markup_from_the_tex(tex):
    mathml = to_mathml(tex, block=False)
    assert "href" not in mathml and "<script" not in mathml and "<img" not in mathml and "onerror" not in mathml


def test_a_template_page_allows_exactly_its_own_inline_scripts():
    page = '<script src="/formgrader/static/a.js"></script><script>var a = 1;</script>' \
           '<span onclick="toggle(true);">x</span>'
    assert csp.inline_script_hashes(page) == {csp.sha256("var a = 1;"), csp.sha256("toggle(true);")}
    assert "script-src 'none'" in csp.policy("evil.example\"; script-src *", ())


def test_the_page_escapes_the_names_and_trusts_none_of_the_students_scripts():
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    from autograder.formgrader.page import InertFormgradeExporter
    config = Config()
    config.HTMLExporter.template_name = "formgrade"  # as nbgrader's formgrader configures its exporter
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("<script>window.pwned = 1</script>")])
    resources = {"assignment_id": "a", "notebook_id": "n", "submission_id": "s", "index": 0, "total": 1,
                 "base_url": "", "student": "<script>window.pwned = 2</script>", "last_name": None,
                 "first_name": None, "notebook_path": "x"}
    page, out = InertFormgradeExporter(config=config).from_notebook_node(nb, resources)
    assert "window.pwned" not in page.replace("&lt;script&gt;window.pwned = 2&lt;/script&gt;", "")
    assert not {csp.sha256("window.pwned = 1"), csp.sha256("window.pwned = 2")} & out["trusted_scripts"]
    assert csp.sha256('\nvar submission_id = "s";\nvar notebook_id = "n";\nvar assignment_id = "a";\n'
                      'var base_url = "/formgrader";\n') in out["trusted_scripts"]
