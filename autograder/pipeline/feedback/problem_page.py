"""A feedback page for every student whose notebook could not be graded (not JSON, too large,
missing, nbgrader failed on it): the score, what was wrong and what to do.

Trusted side. The message is the kit's (intake's or the worker's), escaped; the page has the
same look and policy as the graded ones, and no script at all.
"""
from __future__ import annotations

import html
from pathlib import Path

from .exporter import TEMPLATES, exercise_name, points
from .policy import CSP
from ..intake.submission_names import STUDENT_ID

_CSS = (TEMPLATES / "autograder_feedback" / "kit.css").read_text(encoding="utf-8")
_ADVICE = ("Fix what the message says, save the notebook in Jupyter (Kernel > Restart & Run All, then "
           "File > Save), check it opens, and hand it in again; ask your instructor if it still fails.")


def page(assignment: str, student: str, message: str, cells: dict[str, float]) -> str:
    e = html.escape
    total = points(0, sum(cells.values()))
    items = "\n".join(f'<li class="kit-error">{e(exercise_name(c, None))} — {e(points(0, m))}</li>'
                      for c, m in cells.items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">
<meta name="referrer" content="no-referrer">
<title>{e(assignment)}: feedback</title>
<style>
{_CSS}
</style>
</head>
<body>
<header class="kit-summary" id="kit-top">
  <h1>{e(assignment)}: feedback for {e(student)}</h1>
  <p class="kit-total">Score: <strong>{e(total)}</strong></p>
  <p class="kit-message kit-problem">Your submission could not be graded: {e(message)}</p>
  <p class="kit-advice">{e(_ADVICE)}</p>
  <ol class="kit-toc">
{items}
  </ol>
</header>
</body>
</html>
"""


def write_problem_pages(out: Path, assignment: str, notebook: str, problems, outcomes: dict,
                        cells: dict[str, float]) -> list[Path]:
    """feedback/<student>/<assignment>/<notebook>.html for each intake problem (problems.Problem) and
    each student whose grading failed (a messages.Outcome that is not ok)."""
    messages = {s: o.message for s, o in outcomes.items() if not o.ok}
    messages.update({p.student_id: p.message for p in problems})
    written = []
    for student, message in sorted(messages.items()):
        if not STUDENT_ID.match(student):
            continue  # an id unsafe as a folder name gets no folder; the CSV still reports it
        folder = Path(out) / "feedback" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{notebook}.html"
        path.write_text(page(assignment, student, message or "unknown error", cells), encoding="utf-8")
        written.append(path)
    return written
