"""Benchmarks of `autograder similarity` (docs/similarity.md; results in benchmarks/results/similarity.md).

  python benchmarks/similarity.py scale N          a generated class of N (10 % disguised copies): time, memory, precision
  python benchmarks/similarity.py truth            the test's generated class: the kit's ranking against copydetect's
  python benchmarks/similarity.py public FOLDER    notebooks collected from public repositories (never committed):
                                                   are the true duplicates among them ranked first? and, given as
                                                   --known, is a student who took one paired with it?

copydetect (`pip install copydetect`) is only needed for `truth`. A duplicate among public notebooks
is a pair with the same tokens in every code cell of the notebook (comments and layout dropped by
Python's tokenize), as a fork or a re-upload has, or with the same normalised fragments in every
exercise (the kit cannot tell those apart, so they should rank first).
"""
from __future__ import annotations

import io
import json
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
import tokenize
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from support import similarity_class as generated  # noqa: E402
from autograder.similarity.compare import compare  # noqa: E402
from autograder.similarity.exercises import notebook_code  # noqa: E402
from autograder.similarity.report import write_report  # noqa: E402

ASSIGNMENT = "gradient_checking"


def precision_at(ranked: list[frozenset], truth: set[frozenset], k: int) -> float:
    return sum(p in truth for p in ranked[:k]) / max(1, k)


def _ranked(comparison) -> list[frozenset]:
    return [frozenset({comparison.entries[p.a].name, comparison.entries[p.b].name}) for p in comparison.pairs]


def _ranked_flagged(comparison) -> list[frozenset]:
    """The flagged pairs (a pair ranked by one exercise copied whole may rank above them unflagged)."""
    return [frozenset({comparison.entries[p.a].name, comparison.entries[p.b].name}) for p in comparison.flagged]


def _cpu() -> float:
    """CPU seconds of this process and its waited-for children (the forked readers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def scale(n: int) -> None:
    """A generated class of n, 10 % copies (of copies too): cpu and wall time, peak memory, precision."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        students = generated.scaled(0.1, n)
        for student in students:
            (folder / f"{student.name}.ipynb").write_text(json.dumps(student.notebook()), encoding="utf-8")
        family = {s.name: s.name.split("_of_")[-1] for s in students}
        truth = {frozenset(p) for p in combinations(family, 2) if family[p[0]] == family[p[1]]}
        jobs = os.cpu_count() or 1
        cpu, wall = _cpu(), time.perf_counter()
        comparison = compare(folder, ASSIGNMENT, ROOT, jobs=jobs)
        write_report(comparison, Path(tmp) / "report")
        cpu, wall = _cpu() - cpu, time.perf_counter() - wall
    ranked = _ranked(comparison)
    flagged = _ranked_flagged(comparison)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"class of {n}: {len(truth)} copied pairs; compare + report with {jobs} processes: {cpu:.1f} s cpu in all, "
          f"{wall:.1f} s wall (load average {os.getloadavg()[0]:.1f}), peak RSS {peak:.0f} MiB (a forked reader "
          f"{child:.0f} MiB); {len(comparison.pairs)} pairs scored of {n * (n - 1) // 2}")
    print(f"  precision at {len(truth)}: {precision_at(ranked, truth, len(truth)):.3f}; all copies within the top "
          f"{max(ranked.index(p) for p in truth if p in ranked) + 1}; missed {sum(p not in ranked for p in truth)}")
    print(f"  flagged {len(flagged)} (>= {comparison.threshold:.1f} bits): {sum(p in truth for p in flagged)} copies")
    whole = [p for p in comparison.pairs if p.whole_exercise and p.score > p.total]
    print(f"  ranked by one exercise shared whole: {len(whole)} pairs, of them copies "
          f"{sum(frozenset({comparison.entries[p.a].name, comparison.entries[p.b].name}) in truth for p in whole)}")


def _copydetect_ranking(folder: Path, boilerplate: Path) -> list[tuple[frozenset, float]]:
    """copydetect's pairs by its similarity score (the larger of the two overlaps), on the solution code."""
    from copydetect import CopyDetector
    detector = CopyDetector(test_dirs=[str(folder)], boilerplate_dirs=[str(boilerplate)], extensions=["py"],
                            display_t=0.0, silent=True, noise_t=25, guarantee_t=25)
    detector.run()
    files = detector.test_files
    scores = []
    for i, j in combinations(range(len(files)), 2):
        score = max(detector.similarity_matrix[i, j, 0], detector.similarity_matrix[j, i, 0])
        if score > 0:
            scores.append((frozenset({Path(files[i]).stem, Path(files[j]).stem}), float(score)))
    return sorted(scores, key=lambda x: -x[1])


def _solution_code(nb, spec) -> str:
    return "\n\n".join(code.source for code in notebook_code(nb, spec.exercises).values())


def truth_class() -> None:
    """The kit's ranking and copydetect's on the test's generated class (tests/support/similarity_class.py)."""
    from autograder.similarity.exercises import load
    spec = load(ASSIGNMENT, ROOT)
    made = generated.generate()
    with tempfile.TemporaryDirectory() as tmp:
        out = generated.write_graded(made, Path(tmp) / "graded")
        cpu = time.process_time()
        comparison = compare(out, ASSIGNMENT, ROOT)
        ours_cpu = time.process_time() - cpu
        ours = _ranked(comparison)
        code, base = Path(tmp) / "code", Path(tmp) / "boilerplate"
        code.mkdir(), base.mkdir()
        for student in made.students:
            (code / f"{student.name}.py").write_text(_solution_code(student.notebook(), spec), encoding="utf-8")
        (base / "release.py").write_text(_solution_code(generated.release_notebook(), spec), encoding="utf-8")
        cpu = time.process_time()
        theirs = [p for p, _ in _copydetect_ranking(code, base)]
        theirs_cpu = time.process_time() - cpu
    k = len(made.copied)
    for name, ranked, seconds in (("kit (AST)", ours, ours_cpu), ("copydetect", theirs, theirs_cpu)):
        ranks = sorted(ranked.index(p) + 1 if p in ranked else 10**6 for p in made.copied)
        print(f"{name}: precision at {k} {precision_at(ranked, made.copied, k):.3f}; ranks of the {k} copies {ranks}; "
              f"mistake pair {ranked.index(made.mistake_pair) + 1}, correct-copy pair "
              f"{ranked.index(made.correct_pair) + 1}; {seconds:.1f} s cpu")


def _code_tokens(nb) -> str:
    """All the notebook's code, comments and layout dropped (Python's tokenize): equal for a duplicate."""
    from autograder.similarity.exercises import cell_source
    kept = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        lines = [("" if line.lstrip().startswith(("%", "!")) else line) for line in cell_source(cell).splitlines()]
        try:
            kept.append(" ".join(t.string for t in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline)
                                 if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                                   tokenize.DEDENT)))
        except (tokenize.TokenError, SyntaxError, IndentationError):
            kept.append(cell_source(cell))
    return "\n##\n".join(kept)


def public(folder: Path) -> None:
    """The public notebooks as a class: duplicates (same tokens in the students' functions) ranked first?"""
    with tempfile.TemporaryDirectory() as tmp:
        flat = Path(tmp) / "public"
        flat.mkdir()
        tokens = {}
        for path in sorted(Path(folder).glob("*.ipynb")):
            name = re.sub(r"[^A-Za-z0-9._@-]", "-", path.stem)[:90].strip("-.") or "notebook"
            shutil.copyfile(path, flat / f"{name}.ipynb")
            tokens[name] = _code_tokens(json.loads(path.read_text(encoding="utf-8")))
        cpu = time.process_time()
        comparison = compare(flat, ASSIGNMENT, ROOT)
        seconds = time.process_time() - cpu
        write_report(comparison, Path(tmp) / "report")
    names = sorted(tokens)
    forks = {frozenset(p) for p in combinations(names, 2) if tokens[p[0]] and tokens[p[0]] == tokens[p[1]]}
    prints = {e.name: {x: frozenset(keys) for x, keys in e.prints.items()} for e in comparison.corpus.entries}
    same = {frozenset(p) for p in combinations(sorted(prints), 2) if prints[p[0]] and prints[p[0]] == prints[p[1]]}
    truth = forks | same
    print(f"duplicates: {len(forks)} pairs with the same code tokens in every cell, {len(same)} pairs identical "
          f"after normalisation in every exercise; {len(truth)} in all")
    groups = {}
    for name in names:
        groups.setdefault(tokens[name], []).append(name)
    ranked = _ranked(comparison)
    k = len(truth)
    print(f"{len(names)} public notebooks, {len(comparison.corpus.entries)} compared; {len(groups)} distinct by tokens;"
          f" {k} duplicate pairs; {seconds:.1f} s cpu")
    for at in sorted({k, 5, 10, 20}):
        print(f"  precision at {at}: {precision_at(ranked, truth, at):.3f}")
    print(f"  duplicate pairs' ranks: {sorted(ranked.index(p) + 1 if p in ranked else 10**6 for p in truth)}")
    print(f"  flagged {len(comparison.flagged)} (>= {comparison.threshold:.1f} bits), of them duplicates: "
          f"{sum(p in truth for p in _ranked_flagged(comparison))}")
    for pair in comparison.pairs[:max(k, 10)]:
        a, b = comparison.entries[pair.a].name, comparison.entries[pair.b].name
        print(f"    {'dup' if frozenset({a, b}) in truth else '   '} {pair.total:6.1f}  {a[:45]:45} {b[:45]}")
    planted(Path(folder))


def planted(folder: Path, every: int = 3) -> None:
    """Students of the generated class who hand in a public notebook's gradient_check and
    gradient_check_n (locals renamed, in a cell of their own), with the public notebooks as
    --known: is their best-scored pair the notebook they took (or one identical to it)?"""
    from autograder.similarity.exercises import cell_source, parse_cell
    made = generated.generate()
    sources = sorted(Path(folder).glob("*.ipynb"))[::every]
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        known = Path(tmp) / "known"
        known.mkdir()
        labels = {}
        for path in sorted(Path(folder).glob("*.ipynb")):
            name = re.sub(r"[^A-Za-z0-9._@-]", "-", path.stem)[:90] + ".ipynb"
            shutil.copyfile(path, known / name)
            labels[path] = name
        took = {}
        for i, path in enumerate(sources):
            nb = json.loads(path.read_text(encoding="utf-8"))
            functions = []
            for cell in nb["cells"]:
                module = parse_cell(cell_source(cell)) if cell.get("cell_type") == "code" else None
                lines = cell_source(cell).splitlines()
                for node in (module.body if module else []):
                    if getattr(node, "name", "") in ("gradient_check", "gradient_check_n"):
                        functions.append(generated.rename_locals("\n".join(lines[node.lineno - 1:node.end_lineno]), rng))
            if len(functions) < 2:
                continue
            own = generated.write_student(rng, f"took{i:02d}", made.seen)
            student = generated.Student(own.name, own.sources)
            notebook = student.notebook()
            notebook["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                      "id": "taken", "source": "\n\n".join(functions)})
            took[student.name] = (labels[path], notebook)
        students = Path(tmp) / "class"
        generated.write_flat(made, students)
        for name, (_, notebook) in took.items():
            (students / f"{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
        comparison = compare(students, ASSIGNMENT, ROOT, known)
    forms = {e.name: {x: frozenset(k) for x, k in e.prints.items() if x in ("gradient_check", "gradient_check_n")}
             for e in comparison.entries}
    ranked = _ranked(comparison)
    found = 0
    for name, (source, _) in sorted(took.items()):
        twins = {n for n, f in forms.items() if n.endswith(".ipynb") and f == forms[source]}
        mine = [(r, p) for r, p in enumerate(ranked) if name in p]
        best = mine[0] if mine else (None, frozenset())
        hit = bool(best[1] - {name} & twins)
        found += hit
        print(f"  {name} took {source[:40]:40} ({len(twins):2} public notebooks hold the same two functions): its "
              f"best pair {'is' if hit else 'is NOT'} one of them, rank {best[0] + 1 if best[0] is not None else '-'}"
              f" of {len(ranked)}")
    print(f"planted public solutions found as the student's best pair: {found} of {len(took)}")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "scale" and len(sys.argv) == 3:
        scale(int(sys.argv[2]))
    elif mode == "truth":
        truth_class()
    elif mode == "public" and len(sys.argv) == 3:
        public(Path(sys.argv[2]))
    else:
        sys.exit(__doc__)
