"""Grade one Gradescope submission: find the notebook, judge it, write results.json.

Run by `run_autograder` as `python -m autograder.gradescope --root /autograder --kit KIT`.
Gradescope puts the student's files in ROOT/submission/ and reads ROOT/results/results.json
(its documented autograder spec). Whatever the submission is, a results.json is written: a
notebook that cannot be read, or none at all, scores 0 with a message that says what to do.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

from ..course import manifest as manifests
from ..judge.judge import judge_notebook
from ..judge.sandbox import Limits, isolation_in_force
from ..pipeline.intake.notebook_reader import read_notebook
from .build import TABLE

#: The Gradescope root; tests point it at a temporary folder.
ROOT_ENV = "AUTOGRADER_GRADESCOPE_ROOT"
DEFAULT_ROOT = "/autograder"
#: Instructors see the autograder's own stdout; students see each test's output and the summary.
STDOUT_VISIBILITY = "hidden"


def _ignored(rel: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)


def find_notebook(folder: Path, expected: str) -> tuple[Path | None, str]:
    """The notebook to grade in `folder`, and a note (or, when there is none, why)."""
    if not folder.is_dir():
        return None, f"No submission folder ({folder}) was found; please submit {expected} again."
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not _ignored(p.relative_to(folder)))
    notebooks = [p for p in files if p.suffix.lower() == ".ipynb"]
    exact = sorted((p for p in notebooks if p.name == expected), key=lambda p: (len(p.parts), str(p)))
    if exact:
        others = len(notebooks) - 1
        note = f"Graded {exact[0].relative_to(folder)}; {others} other notebook(s) ignored." if others else ""
        return exact[0], note
    if len(notebooks) == 1:
        return notebooks[0], f"Graded {notebooks[0].name} (the expected name is {expected})."
    if not notebooks:
        seen = ", ".join(p.name for p in files[:10]) or "nothing"
        return None, (f"No notebook (.ipynb) was found in your submission (it holds: {seen}). "
                      f"Submit your {expected} from Jupyter (File > Download) and try again.")
    names = ", ".join(p.name for p in notebooks[:10])
    return None, (f"Your submission has {len(notebooks)} notebooks ({names}) and none is named {expected}; "
                  f"submit just {expected}.")


def _test(row: dict, number: int, score: float, output: str, passed: bool) -> dict:
    return {"name": f"{row['title']} ({row['exercise']})", "number": str(number), "score": score,
            "max_score": row["points"], "status": "passed" if passed else "failed", "output": output,
            "visibility": "visible"}


def _results(table: dict, tests: list[dict], output: str, started: float) -> dict:
    return {"score": sum(t["score"] for t in tests), "output": output, "output_format": "text",
            "test_output_format": "text", "stdout_visibility": STDOUT_VISIBILITY,
            "execution_time": round(time.monotonic() - started), "tests": tests}


def not_graded(table: dict, message: str, started: float) -> dict:
    """Score 0 on every exercise, with `message` as the submission's output."""
    tests = [_test(row, i, 0.0, "Not graded: see the message above the tests.", False)
             for i, row in enumerate(table.get("exercises", []), 1)]
    return _results(table, tests, message, started)


def _summary(table: dict, tests: list[dict], judgement, note: str) -> str:
    score, maximum = sum(t["score"] for t in tests), sum(t["max_score"] for t in tests)
    lines = [f"{table.get('title', table['assignment'])}: {score:g} / {maximum:g} points."]
    if note:
        lines.append(note)
    for index, message in sorted(judgement.cell_errors.items()):
        lines.append(f"Cell {index + 1} of your notebook raised an error when the autograder ran it: {message}")
    for index, message in sorted(judgement.skipped_cells.items()):
        lines.append(f"Cell {index + 1} of your notebook was skipped: {message}")
    not_passed = [t["name"] for t in tests if t["status"] != "passed"]
    if not_passed:
        lines.append("Not passed: " + "; ".join(not_passed) + ". Each test's output says what to look at.")
    return "\n".join(lines)


def grade_submission(root: Path, kit: Path) -> dict:
    """The results.json content for the submission in root/submission/, judged with the kit."""
    started = time.monotonic()
    try:
        table = json.loads((kit / TABLE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return _results({}, [], f"The autograder is incomplete ({kit / TABLE}: {exc}); please tell your "
                        "instructor, who should rebuild it with `autograder gradescope`.", started)
    try:
        path, note = find_notebook(root / "submission", table["notebook"])
        if path is None:
            return not_graded(table, note, started)
        nb, message = read_notebook(path)
        if nb is None:
            return not_graded(table, message, started)
        assignment = table["assignment"]
        manifest = manifests.load(assignment, kit)
        judgement = judge_notebook(nb, assignment, kit / "helpers" / assignment,
                                   Limits(wall_seconds=manifest.time_seconds, memory_mb=manifest.memory_mb),
                                   manifest.tolerances,
                                   functions=[row["function"] for row in table["exercises"]])
        by_function = {r.function: r for r in judgement.results}
        tests = []
        for number, row in enumerate(table["exercises"], 1):
            result = by_function.get(row["function"])
            passed = result is not None and result.passed
            tests.append(_test(row, number, row["points"] if passed else 0.0,
                               result.message if result else "the judge returned no verdict", passed))
            print(f"{row['exercise']}: {result.status if result else 'none'} "
                  f"({tests[-1]['score']:g}/{row['points']:g})")
        return _results(table, tests, _summary(table, tests, judgement, note), started)
    except Exception as exc:  # never leave Gradescope without a results.json
        traceback.print_exc(file=sys.stdout)
        return not_graded(table, f"The autograder itself failed on this submission ({type(exc).__name__}: "
                          f"{exc}). This is not your fault; please tell your instructor.", started)


def write_replacing(target: Path, text: str) -> None:
    """Write target as a new file renamed over whatever is there (a planted link is replaced,
    never followed)."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_ENV, DEFAULT_ROOT)),
                        help=f"Gradescope's root: submission/ and results/ are in it [${ROOT_ENV} or {DEFAULT_ROOT}]")
    parser.add_argument("--kit", type=Path, default=Path(__file__).resolve().parents[2],
                        help=f"The unpacked kit: {TABLE}, assignments/, helpers/ [the folder above this package]")
    args = parser.parse_args(argv)
    results = grade_submission(args.root, args.kit.resolve())
    target = args.root / "results" / "results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_replacing(target, json.dumps(results, indent=1) + "\n")
    print(f"score {results['score']:g}; results written to {target}")
    print("Isolation of student code: " + "; ".join(isolation_in_force()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
