"""How precise the hidden checks' hints are, over every known wrong implementation of the repo.

    .venv/bin/python benchmarks/hints.py [--root COURSE] [--rows-from REPO] [--json OUT]

The wrong implementations are the rows of assignments/*/planted_bugs.toml, of
assignments/gradient_checking/messages.toml (rows with a lost exercise) and of
tests/data/lab_wrong_implementations.toml, read from --rows-from (default: this repository).
Each is applied to the source notebook of the course at --root (default: this repository) and
graded by that course's hidden checks, in this process; the message of the exercise it loses is
classified:

- precise: it contains the phrase the row says its mistake must get (its `hint`, or the same
  mistake's wording in an earlier version of the kit, OLD_WORDING);
- misleading: it names a mistake ("It looks like", "Your checks match") that is not the row's;
- generic: it names nothing and gives only the exercise's general advice (GENERIC);
- honest-partial: it names nothing and says something particular (which blocks or which part
  is wrong, what a probe showed).

A row whose mistake the check must not name (hint = "": several mistakes fit what it can see)
is at best honest-partial.
Pointing --root at an older checkout (git worktree add) measures that version on the same rows.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections import Counter
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent

#: Phrases that name a mistake.
NAMING = ("It looks like", "it looks like", "Your checks match")
#: General advice an exercise falls back to when it can say nothing particular.
GENERIC = ("Check gradapprox = (J(θ+ε) − J(θ−ε)) / (2ε) and the relative norm",
           "Check the loop over the parameters, gradapprox and the relative norm",
           "A difference of about 1 means gradapprox is about 0 or far larger than grad",
           "one-sided: (J(θ+ε) − J(θ)) / ε, two-sided: (J(θ+ε) − J(θ−ε)) / (2ε), for every component")
#: The same mistake's wording in the kit before the probes (so the older version is not
#: counted imprecise for saying the same thing in other words).
OLD_WORDING = {
    "grad is taken at θ+ε (or θ−ε) instead of θ": ["grad taken at θ+ε (or θ−ε) instead of θ"],
    "backward_propagation is called at another point than θ (gradapprox, say)":
        ["gradapprox passed to backward_propagation"],
    "θ⁺ shares memory with θ": ["θ not copied before nudging"],
}


def rows(repo: Path) -> list[dict]:
    """Every wrong implementation: {id, assignment, edits, hint}."""
    found, seen = [], set()
    for assignment in ("gradient_checking", "gradient_checking_lab"):
        table = tomllib.loads((repo / "assignments" / assignment / "planted_bugs.toml").read_text("utf-8"))
        for row in table["submission"]:
            lost = row["expect_lost"]
            if lost:
                edits = row.get("edit", []) + ([row] if "function" in row else [])
                found.append({"id": row["id"], "assignment": assignment, "lost": lost, "edits": edits,
                              "hint": row.get("hint", row.get("message_contains", ""))})
                seen.add((assignment, row["id"]))
    messages = tomllib.loads((repo / "assignments" / "gradient_checking" / "messages.toml").read_text("utf-8"))
    for row in messages["mistake"]:
        if not row["lost"] or ("gradient_checking", row.get("planted", row["id"])) in seen:
            continue
        edits = row.get("edit", []) + ([row] if "function" in row else [])
        hint = row["hint"] if isinstance(row["hint"], str) else row["hint"][-1]
        found.append({"id": row["id"], "assignment": "gradient_checking", "lost": row["lost"], "edits": edits,
                      "hint": hint})
    lab = tomllib.loads((repo / "tests" / "data" / "lab_wrong_implementations.toml").read_text("utf-8"))
    for row in lab["wrong"]:
        if row.get("expect_hidden") == "passed":
            continue
        edit = dict(row)
        if row.get("drop_copy"):
            edit["drop"] = "    parameters = {key: np.copy(value) for key, value in parameters.items()}\n"
        found.append({"id": row["id"], "assignment": "gradient_checking_lab", "lost": row["function"],
                      "edits": [edit], "hint": row["hint"]})
    return found


def classify(message: str, hint: str) -> str:
    names = any(word in message for word in NAMING)
    if hint and any(phrase in message for phrase in [hint, *OLD_WORDING.get(hint, [])]):
        return "precise"
    if names:
        return "misleading"
    return "generic" if any(phrase in message for phrase in GENERIC) else "honest-partial"


def grade(root: Path, table: list[dict]) -> list[dict]:
    """Each row's lost exercise's status and message under the course at root."""
    import nbformat
    import numpy as np
    from autograder.course import graders, manifest
    from autograder.grading.results import run_check
    from autograder.grading.subject import InProcessSubject

    out = []
    for assignment in sorted({r["assignment"] for r in table}):
        folder = root / "source" / assignment
        nb = nbformat.read(folder / f"{assignment}.ipynb", as_version=4)
        grader, tolerances = graders.load(assignment, root), manifest.tolerances_for(assignment, root)
        solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
                     if c.metadata.get("nbgrader", {}).get("solution")}
        old_cwd, old_path = os.getcwd(), list(sys.path)
        os.chdir(folder)
        sys.path.insert(0, str(folder))
        try:
            namespace = {"__name__": "__main__"}
            with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
                for cell in nb.cells:
                    meta = cell.metadata.get("nbgrader", {})
                    if cell.cell_type != "code" or (meta.get("grade") and not meta.get("solution")):
                        continue
                    code = "\n".join(l for l in cell.source.splitlines() if not l.lstrip().startswith("%"))
                    try:
                        exec(compile(code, "<cell>", "exec"), namespace)
                    except Exception:  # noqa: BLE001 (an exploration cell may fail; nbgrader runs on)
                        pass
            import matplotlib.pyplot as plt
            plt.close("all")
            saved = dict(namespace)
            for row in (r for r in table if r["assignment"] == assignment):
                try:
                    with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
                        for edit in row["edits"]:
                            cell = edit.get("source") or solutions[edit["function"]].replace(edit["old"], edit["new"])
                            if "drop" in edit:
                                cell = cell.replace(edit["drop"], "")
                            code = "\n".join(l for l in cell.splitlines() if not l.lstrip().startswith("%"))
                            exec(compile(code, f"<{edit['function']}>", "exec"), namespace)
                        result = run_check(row["lost"], InProcessSubject(namespace, graders.resolve), tolerances,
                                           grader.checks)
                finally:
                    namespace.clear()
                    namespace.update(saved)
                out.append({**{k: row[k] for k in ("id", "assignment", "lost", "hint")}, "status": result.status,
                            "message": result.message,
                            "class": "passed" if result.passed else classify(result.message, row["hint"])})
        finally:
            os.chdir(old_cwd)
            sys.path[:] = old_path
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=REPO, help="the course whose hidden checks grade")
    parser.add_argument("--rows-from", type=Path, default=REPO, help="the repository whose tables give the rows")
    parser.add_argument("--json", type=Path, help="write every row's message and class here")
    args = parser.parse_args(argv)
    graded = grade(args.root.resolve(), rows(args.rows_from.resolve()))
    counts = Counter(r["class"] for r in graded)
    failing = sum(v for k, v in counts.items() if k != "passed")
    for r in graded:
        if r["class"] not in ("precise",):
            print(f"{r['class']:15} {r['assignment']}/{r['id']}: {r['message'][:160]}")
    print(f"\n{len(graded)} wrong implementations, {failing} rejected; of those: " + ", ".join(
        f"{k} {counts[k]} ({counts[k] / failing:.0%})" for k in ("precise", "honest-partial", "generic", "misleading")))
    if counts["passed"]:
        print(f"passed hidden (a false pass): {counts['passed']}")
    if args.json:
        args.json.write_text(json.dumps(graded, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
