"""Same outputs from two commits: every CSV, feedback page and gradebook row (issue 22).

    .venv/bin/python benchmarks/identical_outputs.py                  # the baseline (7404a99) against HEAD
    .venv/bin/python benchmarks/identical_outputs.py 7404a99 main     # ... against main's newest commit
    .venv/bin/python benchmarks/identical_outputs.py BASE OTHER       # any two commits (or branches, tags)
    .venv/bin/python benchmarks/identical_outputs.py 7404a99 7404a99  # a commit against itself: must be identical
    .venv/bin/python benchmarks/identical_outputs.py --only demo --keep /tmp/identical   # keep both OUTs

For each of the two commits, in a detached `git worktree` of it under a temp folder (removed at
the end, also on failure), with this python (the repo's .venv: the kit's dependencies; the
worktree's own `autograder` package first on PYTHONPATH):

  (a) the demo: `autograder --course WORKTREE demo --out OUT/demo`, exactly what `./kit demo`
      grades (every assignment's samples/<assignment>/, the demo's 20 s time limit);
  (b) a class of --n (41) `gradient_checking` submissions built ONCE, by benchmarks/grading.py's
      own builder (make_class, write_class: seeded, ~40% correct, the rest one planted bug
      each), graded with `autograder --course WORKTREE grade CLASS --assignment
      gradient_checking --out OUT/class`.

Both commits get the same inputs: the same class folder, and the same course secret (a fresh
random one written into both worktrees' `.autograder-secret`: the hidden cases are drawn from
it, so two secrets would give two sets of cases); each commit gets an empty assignment cache of
its own (AUTOGRADER_CACHE), so neither reuses the other's registered assignment.

Then it compares the two OUT folders (compare_outputs):
  * every CSV below OUT (scores.csv, grades_by_exercise.csv, ...): byte for byte;
  * every feedback page (OUT/.../feedback/<student>/<assignment>/<notebook>.html): byte for byte;
  * every gradebook (OUT/.../gradebook.db, nbgrader's SQLite): every table's schema and every row
    of every table, with only the normalisation described at GRADEBOOK_NORMALISATION;
  * a file present on one side only is a difference.
Run-specific values are normalised only where two runs of the SAME commit differ (run it with one
commit twice to see it): the gradebook's random row ids (GRADEBOOK_NORMALISATION), and in the
feedback pages the lab's one timed cell, whose outputs are wall-clock measurements of the run
(PAGE_NORMALISATION). Nothing else. Not compared: the verdict records (judge_seconds, CPU seconds,
and a resume key that hashes the kit's own code, so differs between commits by design), the logs,
and the autograded notebooks (nbgrader's intermediate, which the feedback pages are rendered from).
A grading run takes a few minutes per commit on 2 cores (the demo's looping sample runs into its
limit; the lab's judge is slow).

It prints a table (scenario, file kind, how many compared, how many identical) and exits 1 on
any difference, printing the first differing lines of each differing file or row (column and
both values); 2 when a commit could not be checked out or graded.
"""
from __future__ import annotations

import argparse
import difflib
import importlib.util
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The commit issue 22's refactor starts from: main before the refactor.
BASELINE = "7404a99"
ASSIGNMENT = "gradient_checking"

# ---------------------------------------------------------------------------------------------
# The gradebook: what is normalised, and why
# ---------------------------------------------------------------------------------------------

#: GRADEBOOK_NORMALISATION. nbgrader gives the rows of these tables a primary key `id` that is
#: a random uuid4 (nbgrader.api.new_uuid) made when the row is inserted: two runs of the same
#: commit give the same row different ids, and every column that refers to such a row (a foreign
#: key: notebook_id, cell_id, assignment_id, ...) carries that random id too. Each such id, in
#: its own column and in every column that refers to it, is replaced by the row's natural key,
#: the columns nbgrader itself declares unique for that table (foreign keys in them resolved
#: the same way): e.g. a grade's id becomes grade[submitted_notebook[submitted_assignment[
#: assignment[gradient_checking], s001], notebook[...]], base_cell[...]]. So a row whose
#: foreign key pointed at another row than before still differs. grade_cells, solution_cells and
#: task_cells have no id of their own (their id is base_cell's) and are resolved through it.
#: Rows are compared as sets keyed by that (normalised) id: their order in the file is the order
#: parallel workers inserted them in.
#: Nothing else is normalised. In particular not submitted_assignment.timestamp (nbgrader's
#: submission time: empty for a flat folder of notebooks, or read from the submission's
#: timestamp.txt, never the time of the run), assignment.duedate (the manifest's), checksums,
#: scores and comments.
RANDOM_ID_TABLES: dict[str, tuple[str, ...]] = {
    "assignment": ("name",),
    "notebook": ("assignment_id", "name"),
    "base_cell": ("notebook_id", "name", "type"),
    "source_cell": ("notebook_id", "name"),
    "submitted_assignment": ("assignment_id", "student_id"),
    "submitted_notebook": ("assignment_id", "notebook_id"),  # assignment_id: the submitted_assignment
    "grade": ("notebook_id", "cell_id"),  # notebook_id: the submitted_notebook; cell_id: base_cell
    "comment": ("notebook_id", "cell_id"),
}

# ---------------------------------------------------------------------------------------------
# The feedback pages: the one run-specific output, and its normalisation
# ---------------------------------------------------------------------------------------------

#: PAGE_NORMALISATION. gradient_checking_lab's "Now measure it" cell times the student's own
#: forward/backward pass and full check with time.perf_counter, prints the ratio ("N = 4545: the
#: check took 2995 times as long as backprop.") and plots the seconds (a log-log PNG). Both are
#: wall-clock measurements of that run, so two runs of the same commit write them differently
#: (found by running 7404a99 against itself: those two outputs of that one cell, in each of the
#: 4 lab pages of the demo, and nothing else). In the outputs of a code cell that prints that
#: sentence, and only there, the ratio and the cell's PNG images are replaced by placeholders;
#: the cell's source, its other output lines (the counted forward passes) and every other cell
#: of the page are compared as they are.
TIMED_CELL_OUTPUT = re.compile(r"(N = \d+: the check took )\d+( times as long as backprop\.)")
CELL_START = re.compile(r'(?=<div (?:id="cell-id=[^"]*" )?class="cell border-box-sizing )')
PNG_DATA = re.compile(r'(src="data:image/png;base64,)[A-Za-z0-9+/=\s]*(")')
OUTPUTS = '<div class="output_wrapper">'


def normalise_page(page: bytes) -> tuple[bytes, int]:
    """(the page with the lab's timed cell's outputs replaced by placeholders, how many cells)."""
    if TIMED_CELL_OUTPUT.search(page.decode("utf-8", errors="replace")) is None:
        return page, 0
    cells, count = CELL_START.split(page.decode("utf-8")), 0
    for i, cell in enumerate(cells):
        at = cell.find(OUTPUTS)
        if at < 0 or not TIMED_CELL_OUTPUT.search(cell, at):
            continue
        outputs = TIMED_CELL_OUTPUT.sub(r"\1<a timing>\2", cell[at:])
        cells[i] = cell[:at] + PNG_DATA.sub(r"\1<a plot of timings>\2", outputs)
        count += 1
    return "".join(cells).encode("utf-8"), count


# ---------------------------------------------------------------------------------------------
# Comparing two OUT folders
# ---------------------------------------------------------------------------------------------


@dataclass
class Kind:
    """One kind of output: how many were compared, how many identical, and the differences."""
    name: str
    compared: int = 0
    identical: int = 0
    normalised: int = 0  # files identical only after PAGE_NORMALISATION (gradebooks: always normalised)
    differences: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    kinds: dict[str, Kind]

    @property
    def differences(self) -> list[str]:
        return [d for kind in self.kinds.values() for d in kind.differences]


def _files(out: Path, pattern: str) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob(pattern) if p.is_file()}


def _feedback_pages(out: Path) -> set[str]:
    """OUT/[...]/feedback/<student>/<assignment>/<notebook>.html (MathJax's own files are no page)."""
    return {p.relative_to(out).as_posix() for p in out.rglob("*.html")
            if p.is_file() and len(p.parts) >= 4 and p.parts[-4] == "feedback"}


def _first_differing_lines(a: bytes, b: bytes, label: str, limit: int = 12) -> str:
    left = a.decode("utf-8", errors="replace").splitlines()
    right = b.decode("utf-8", errors="replace").splitlines()
    diff = list(difflib.unified_diff(left, right, f"A/{label}", f"B/{label}", n=0, lineterm=""))
    shown = [line if len(line) <= 400 else line[:400] + f" ... ({len(line)} characters)" for line in diff[:limit]]
    if len(diff) > limit:
        shown.append(f"... ({len(diff) - limit} more diff lines)")
    return "\n".join(shown) or f"{label}: same lines, different bytes (line endings or a trailing newline)"


def compare_bytes(out_a: Path, out_b: Path, names_a: set[str], names_b: set[str], kind: Kind,
                  normalise=None) -> Kind:
    for name in sorted(names_a | names_b):
        kind.compared += 1
        if name not in names_b or name not in names_a:
            kind.differences.append(f"{kind.name} {name}: only in {'A' if name in names_a else 'B'}")
            continue
        a, b = (out_a / name).read_bytes(), (out_b / name).read_bytes()
        if normalise and a != b:
            (a, cells_a), (b, cells_b) = normalise(a), normalise(b)
            kind.normalised += cells_a > 0 or cells_b > 0
        if a == b:
            kind.identical += 1
        else:
            kind.differences.append(f"{kind.name} {name} differs:\n{_first_differing_lines(a, b, name)}")
    return kind


def gradebook_rows(path: Path) -> dict[str, dict]:
    """{table: {"schema": CREATE statement, "columns": [...], "rows": {key: row tuple}}}, every
    table of the SQLite gradebook with random ids replaced by natural keys (RANDOM_ID_TABLES)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {name: sql for name, sql in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")}
        columns = {t: [r[1] for r in db.execute(f'PRAGMA table_info("{t}")')] for t in tables}
        raw = {t: db.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}
        # {table: {column: table it refers to}} for columns referring to a table's id
        refers = {t: {r[3]: r[2] for r in db.execute(f'PRAGMA foreign_key_list("{t}")') if r[4] == "id"}
                  for t in tables}
    finally:
        db.close()
    by_id = {t: {row[columns[t].index("id")]: row for row in raw[t]} for t in RANDOM_ID_TABLES
             if t in tables and "id" in columns[t]}
    labels: dict[tuple[str, object], str] = {}

    def label(table: str, value, depth: int = 0):
        """The natural key standing for `table`'s random id `value`."""
        if value is None:
            return None
        if table not in by_id:  # a table whose ids are not random (student, course): kept as they are
            return value
        if (table, value) in labels:
            return labels[(table, value)]
        row = by_id[table].get(value)
        if row is None or depth > 16:
            return f"{table}[dangling id {value}]"  # random, so it shows as a difference
        parts = []
        for column in RANDOM_ID_TABLES[table]:
            cell = row[columns[table].index(column)]
            target = refers[table].get(column)
            parts.append(str(label(target, cell, depth + 1) if target else cell))
        labels[(table, value)] = f"{table}[{', '.join(parts)}]"
        return labels[(table, value)]

    dumped = {}
    for table in tables:
        cols = columns[table]
        rows = {}
        for row in raw[table]:
            normal = []
            for column, cell in zip(cols, row):
                if column == "id" and table in by_id:
                    cell = label(table, cell)
                elif column in refers[table]:
                    cell = label(refers[table][column], cell)
                normal.append(cell)
            normal = tuple(normal)
            if "id" in cols:
                key = normal[cols.index("id")]
            else:  # no key (alembic_version): the row itself, and how many times it came before
                key = (normal, sum(1 for k in rows if k[0] == normal))
            rows[key] = normal
        dumped[table] = {"schema": tables[table], "columns": cols, "rows": rows}
    return dumped


def _short(value, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def compare_gradebooks(out_a: Path, out_b: Path, kind: Kind, schema: Kind) -> None:
    names_a, names_b = _files(out_a, "gradebook.db"), _files(out_b, "gradebook.db")
    for name in sorted(names_a | names_b):
        if name not in names_a or name not in names_b:
            schema.compared += 1
            schema.differences.append(f"gradebook {name}: only in {'A' if name in names_a else 'B'}")
            continue
        a, b = gradebook_rows(out_a / name), gradebook_rows(out_b / name)
        for table in sorted(set(a) | set(b)):
            schema.compared += 1
            if table not in a or table not in b:
                schema.differences.append(f"gradebook {name}: table {table} only in {'A' if table in a else 'B'}")
                continue
            if a[table]["schema"] != b[table]["schema"]:
                schema.differences.append(f"gradebook {name}: table {table}'s schema differs:\n"
                                          f"  A: {a[table]['schema']}\n  B: {b[table]['schema']}")
                continue
            schema.identical += 1
            rows_a, rows_b, cols = a[table]["rows"], b[table]["rows"], a[table]["columns"]
            for key in sorted(set(rows_a) | set(rows_b), key=repr):
                kind.compared += 1
                if rows_a.get(key) == rows_b.get(key):
                    kind.identical += 1
                elif key not in rows_a or key not in rows_b:
                    side, row = ("A", rows_a[key]) if key in rows_a else ("B", rows_b[key])
                    kind.differences.append(f"gradebook {name}: {table} row only in {side}: "
                                            f"{_short(dict(zip(cols, row)), 600)}")
                else:
                    changed = [f"  column {c}: A {_short(x)}\n  {' ' * len('column ' + c)}  B {_short(y)}"
                               for c, x, y in zip(cols, rows_a[key], rows_b[key]) if x != y]
                    kind.differences.append(f"gradebook {name}: {table} row {_short(key, 400)} differs:\n"
                                            + "\n".join(changed))


def compare_outputs(out_a: Path, out_b: Path) -> Comparison:
    """Compare two grading output folders (OUT of `grade`, or a folder holding several)."""
    kinds = {k: Kind(k) for k in ("CSV", "feedback page", "gradebook table", "gradebook row")}
    compare_bytes(out_a, out_b, _files(out_a, "*.csv"), _files(out_b, "*.csv"), kinds["CSV"])
    compare_bytes(out_a, out_b, _feedback_pages(out_a), _feedback_pages(out_b), kinds["feedback page"],
                  normalise_page)
    compare_gradebooks(out_a, out_b, kinds["gradebook row"], kinds["gradebook table"])
    return Comparison(kinds)


# ---------------------------------------------------------------------------------------------
# Grading with a commit
# ---------------------------------------------------------------------------------------------


class RunError(Exception):
    pass


def _git(*args: str, cwd: Path = ROOT) -> str:
    run = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if run.returncode:
        raise RunError(f"git {' '.join(args)}: {run.stderr.strip()}")
    return run.stdout.strip()


def _env(worktree: Path, cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("AUTOGRADER_COURSE_ROOT", "AUTOGRADER_KIT_COURSE", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # nbgrader's alembic
    env["PYTHONPATH"] = str(worktree)  # this commit's autograder, whatever the venv's editable install points at
    env["AUTOGRADER_CACHE"] = str(cache)
    return env


def _run(cmd: list[str], worktree: Path, env: dict, log: Path) -> float:
    started = time.perf_counter()
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        code = subprocess.call(cmd, cwd=worktree, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    if code:
        tail = (log.with_suffix(".out").read_text(errors="replace")[-1500:] + "\n"
                + log.with_suffix(".err").read_text(errors="replace")[-1500:])
        raise RunError(f"{' '.join(cmd[2:])} exited with {code} in {worktree}:\n{tail}")
    return time.perf_counter() - started


def grade_with(commit: str, label: str, work: Path, class_folder: Path | None, scenarios: list[str],
               secret: str, jobs: int) -> tuple[Path, Path]:
    """Check out commit in a detached worktree, grade the scenarios into work/out-LABEL/<scenario>."""
    worktree, out = work / f"worktree-{label}", work / f"out-{label}"
    _git("worktree", "add", "--detach", str(worktree), commit)
    (worktree / ".autograder-secret").write_text(secret + "\n", encoding="ascii")
    os.chmod(worktree / ".autograder-secret", 0o600)
    env = _env(worktree, work / f"cache-{label}")
    base = [sys.executable, "-m", "autograder", "--course", str(worktree)]
    if "demo" in scenarios:
        print(f"  {label} {commit[:10]}: the demo ...", flush=True)
        seconds = _run(base + ["demo", "--out", str(out / "demo"), "--jobs", str(jobs)], worktree, env,
                       work / f"{label}-demo")
        print(f"    {seconds:.0f} s", flush=True)
    if "class" in scenarios:
        print(f"  {label} {commit[:10]}: the class ...", flush=True)
        seconds = _run(base + ["grade", str(class_folder), "--assignment", ASSIGNMENT, "--out", str(out / "class"),
                               "--jobs", str(jobs)], worktree, env, work / f"{label}-class")
        print(f"    {seconds:.0f} s", flush=True)
    return worktree, out


def build_class(n: int, folder: Path) -> Path:
    """The class of benchmarks/grading.py (its builder, not a copy), written once for both commits."""
    spec = importlib.util.spec_from_file_location("grading_benchmark", ROOT / "benchmarks" / "grading.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    flat = folder / "class"
    bench.write_class(bench.make_class(n), flat, folder / "class-nbgrader-layout")
    return flat


def print_table(results: dict[str, Comparison]) -> None:
    print(f"\n{'scenario':<10} {'file kind':<16} {'compared':>9} {'identical':>10}")
    for scenario, comparison in results.items():
        for kind in comparison.kinds.values():
            note = f"   ({kind.normalised} of them after PAGE_NORMALISATION)" if kind.normalised else ""
            print(f"{scenario:<10} {kind.name:<16} {kind.compared:>9} {kind.identical:>10}{note}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", nargs="?", default=BASELINE, help=f"commit A [default: {BASELINE}]")
    parser.add_argument("other", nargs="?", default="HEAD", help="commit B [default: HEAD, this checkout's]")
    parser.add_argument("--n", type=int, default=41, help="class size [default: 41]")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="grading workers [default: cores]")
    parser.add_argument("--only", default="demo,class", help="scenarios: demo, class [default: both]")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this folder and keep the OUT folders (worktrees are removed anyway)")
    args = parser.parse_args(argv)
    scenarios = [s for s in args.only.split(",") if s]
    if not set(scenarios) <= {"demo", "class"} or not scenarios:
        parser.error("--only takes demo, class or both")
    try:
        commits = [_git("rev-parse", "--verify", f"{c}^{{commit}}") for c in (args.base, args.other)]
    except RunError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"A = {args.base} ({commits[0][:10]}), B = {args.other} ({commits[1][:10]}); "
          f"scenarios: {', '.join(scenarios)}; class of {args.n}; --jobs {args.jobs}", flush=True)
    changed = _git("diff", "--name-only", commits[0], commits[1], "--", "release", "samples", "source", "assignments")
    if changed:
        print(f"note: the commits' assignments differ (outputs may differ for that reason):\n  "
              + changed.replace("\n", "\n  "), flush=True)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="identical-outputs-", dir=args.keep))
    worktrees = [work / "worktree-A", work / "worktree-B"]
    try:
        class_folder = build_class(args.n, work) if "class" in scenarios else None
        secret = secrets.token_hex(32)  # one course secret for both: the same hidden cases
        outs = []
        for commit, label in zip(commits, ("A", "B")):
            outs.append(grade_with(commit, label, work, class_folder, scenarios, secret, args.jobs)[1])
        results = {s: compare_outputs(outs[0] / s, outs[1] / s) for s in scenarios}
    except RunError as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        for worktree in worktrees:
            if worktree.exists():
                subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT,
                               capture_output=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    differences = [(s, d) for s, c in results.items() for d in c.differences]
    if any(kind.compared == 0 for c in results.values() for kind in c.kinds.values()):
        print("\nFAIL: a kind of output had nothing to compare (did grading write it?)")
        return 1
    if differences:
        print(f"\nDIFFERENT: {len(differences)} differences; the first ones:")
        for scenario, difference in differences[:10]:
            print(f"[{scenario}] {difference}")
        return 1
    print(f"\nIDENTICAL: {commits[0][:10]} and {commits[1][:10]} wrote the same CSVs, feedback pages and "
          f"gradebook rows{f' (kept in {work})' if args.keep else ''}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
