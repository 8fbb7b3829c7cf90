"""The similarity report on a generated class with known truth (tests/support/similarity_class.py).

Copies disguised the ways copiers do must rank first; independently written correct solutions and
students who handed in the skeleton must not be flagged; a shared planted mistake must weigh more
than shared correct code; the page must stay inert whatever a student wrote. Student code is only
parsed here, never run.
"""
from __future__ import annotations

import ast
import csv
import json
import random

import pytest
from click.testing import CliRunner

from support import similarity_class as generated
from autograder.cli import main
from autograder.similarity.compare import compare
from autograder.similarity.evidence import WHOLE_CHANCE, Pair, weigh_exercises
from autograder.similarity.normalise import fragments
from autograder.similarity.report import ReportError, shared_fragments, write_report

ROOT = generated.ROOT


def _names(comparison, pair):
    return frozenset({comparison.entries[pair.a].name, comparison.entries[pair.b].name})


@pytest.fixture(scope="module")
def truth():
    return generated.generate()


@pytest.fixture(scope="module")
def graded_class(truth, tmp_path_factory):
    """The generated class as a graded OUT: submitted/ and grades_by_exercise.csv (a planted mistake fails)."""
    out = generated.write_graded(truth, tmp_path_factory.mktemp("graded-class"))
    return out, compare(out, generated.ASSIGNMENT, ROOT)


def _texts(source: str) -> set[str]:
    return {f.text for f in fragments(ast.parse(source).body[0], frozenset({"np", "forward_propagation"}))}


def test_cheap_disguises_normalise_away():
    """Renamed locals, comments, prints, reformatting, a while loop and operand order leave the fragments as they were."""
    original = ("def f(x, n):\n    total = 0\n    for i in range(n):\n        total = total + np.sum(x * i)\n"
                "    scaled = total / (2 * n)\n    return scaled\n")
    disguised = ("def f(x, n):\n    # my own work\n    acc=0\n    k = 0\n    while k < n:\n"
                 "        acc += np.sum(k * x)  # add\n        k += 1\n    print(acc)\n"
                 "    result = acc / (n * 2.0)\n    return result\n")
    kept = _texts(original) - {"= 0.0"}
    assert kept <= _texts(disguised)


def test_disguised_copies_rank_first(graded_class, truth):
    """The five disguised whole-notebook copies and the pair sharing a planted mistake are the top six."""
    _, comparison = graded_class
    whole = {p for p in truth.copied if not p & {"c_one", "m2", "k2"}} | {truth.mistake_pair}
    top = {_names(comparison, p) for p in comparison.pairs[:len(whole)]}
    assert top == whole
    same = {frozenset(comparison.entries[i].name for i in g.members) for g in comparison.identical}
    assert {frozenset({"c_rename", "s000"}), frozenset({"c_loops", "s002"})} <= same  # listed as identical too


def test_command_writes_beside_the_graded_folder(graded_class, truth):
    """On a graded OUT the report goes to OUT/similarity/, never into feedback/."""
    out, _ = graded_class
    result = CliRunner().invoke(main, ["similarity", str(out), "-a", generated.ASSIGNMENT])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "similarity" / "similarity.csv").open(encoding="utf-8")))
    assert frozenset({rows[0]["a"], rows[0]["b"]}) in truth.copied
    assert "flagged for review" in result.output and not (out / "feedback").exists()


def test_forked_reading_gives_the_same_ranking(graded_class):
    """A large class is fingerprinted by forked processes; the pairs and their evidence are the same."""
    out, comparison = graded_class
    forked = compare(out, generated.ASSIGNMENT, ROOT, jobs=2, parallel_from=2)
    assert [(p.a, p.b, round(p.total, 9)) for p in forked.pairs] == [(p.a, p.b, round(p.total, 9))
                                                                     for p in comparison.pairs]


def test_one_function_copy_is_found_in_that_function(graded_class, truth):
    _, comparison = graded_class
    ranked = [_names(comparison, p) for p in comparison.pairs]
    one = next(p for p in truth.copied if "c_one" in p)
    pair = comparison.pairs[ranked.index(one)]
    assert pair.top_exercise == "gradient_check_n"
    assert ranked.index(one) < len(truth.copied)  # at the top: among as many pairs as there are copies


def test_a_whole_exercise_copy_ranks_and_is_named(graded_class, truth):
    """The one-function copy is ranked by its exercise, named in both report files; no independent pair is."""
    out, comparison = graded_class
    ranked = [_names(comparison, p) for p in comparison.pairs]
    one = comparison.pairs[ranked.index(next(p for p in truth.copied if "c_one" in p))]
    assert one.whole_exercise == "gradient_check_n" and one.score > one.total
    assert one.overlap["gradient_check_n"] >= 0.9
    page, table = write_report(comparison, out / "report-whole")
    row = next(r for r in csv.DictReader(table.open(encoding="utf-8")) if {r["a"], r["b"]} == set(_names(comparison, one)))
    assert row["whole_exercise"] == "gradient_check_n" and float(row["rank_bits"]) == pytest.approx(one.score, abs=0.05)
    assert "gradient_check_n shared whole" in page.read_text(encoding="utf-8")


def test_same_short_function_is_not_lifted(tmp_path):
    """Two unrelated students who wrote the same unusual one-line function share all of that exercise's
    rare code, and are still neither ranked by it nor flagged: one line is too little evidence."""
    truth = generated.generate()
    cell = "".join(generated.solution_cells(generated.release_notebook())["forward_propagation"]["source"])
    line = generated.fill(cell, "J = np.sum(np.multiply(np.atleast_1d(theta), np.atleast_1d(x)))")
    for student in truth.students:
        if student.name in ("s010", "s011"):
            student.sources["forward_propagation"] = line
    comparison = compare(generated.write_flat(truth, tmp_path / "class"), generated.ASSIGNMENT, ROOT)
    ranked = [_names(comparison, p) for p in comparison.pairs]
    pair = comparison.pairs[ranked.index(frozenset({"s010", "s011"}))]
    assert pair.overlap["forward_propagation"] == 1.0 and pair.fragments["forward_propagation"] >= 3
    assert pair.whole_exercise != "forward_propagation" and pair.total < comparison.threshold
    assert ranked.index(frozenset({"s010", "s011"})) >= len(truth.copied)


def test_whole_exercise_matches_common_in_the_class_do_not_rank():
    """Where many pairs match in one exercise alone (an exercise with few ways to write it), such a
    match is chance, not a copy: none of them is ranked by it; where they are few, all are."""
    def pairs():
        return [Pair(i, i + 1, bits={"x": 30.0, "y": 1.0}, overlap={"x": 1.0, "y": 0.2}) for i in range(0, 6, 2)]
    flag = 40.0  # each pair holds 30 bits in x: over WHOLE_MIN_SHARE of a flag
    common, rare = pairs(), pairs()
    weigh_exercises(common, flag, {"x": 3 / WHOLE_CHANCE - 1})
    weigh_exercises(rare, flag, {"x": 3 / WHOLE_CHANCE})
    assert [p.score for p in common] == [31.0] * 3
    assert [p.whole_exercise for p in rare] == ["x"] * 3 and [p.score for p in rare] == [60.0] * 3


def test_real_verdicts_are_read_from_a_graded_out(graded_samples, tmp_path):
    """On an OUT `grade` really wrote (the samples: one solution and its planted bugs), the failing
    exercises come from the judge's verdicts, and the report says verdicts were read."""
    run = graded_samples("gradient_checking")
    failing = {}
    with open(run.exercises_csv, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["status"] in ("failed", "error", "timeout"):
                failing.setdefault(row["student_id"], set()).add(row["exercise"])
    assert failing, "the samples hold planted bugs: some exercise must fail"
    comparison = compare(run.out, "gradient_checking", ROOT)
    assert comparison.corpus.graded
    tests = {e.name: e.test for e in comparison.assignment.exercises}
    read = {e.name: {tests[x] for x in e.failing} for e in comparison.entries if e.failing}
    assert read and all(read[student] <= failing[student] for student in read)
    assert read.get("bug_one_sided_check") == failing["bug_one_sided_check"]
    result = CliRunner().invoke(main, ["similarity", str(run.out), "-a", "gradient_checking", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "verdicts read from the graded folder" in (tmp_path / "similarity.html").read_text(encoding="utf-8")


def test_independent_and_skeleton_students_are_not_flagged(graded_class, truth):
    _, comparison = graded_class
    flagged = {_names(comparison, p) for p in comparison.flagged}
    assert flagged and flagged <= truth.copied
    paired = {name for p in comparison.pairs for name in _names(comparison, p)}
    assert not paired & truth.skeleton


def test_shared_mistake_outweighs_shared_correct_code(graded_class, truth, tmp_path):
    """Both pairs copied gradient_check alone; the pair whose copy fails the verdict ranks higher,
    and only because of the verdict: without it (a folder of notebooks), no shared mistake is claimed."""
    _, comparison = graded_class
    ranked = [_names(comparison, p) for p in comparison.pairs]
    mistake = comparison.pairs[ranked.index(truth.mistake_pair)]
    assert ranked.index(truth.mistake_pair) < ranked.index(truth.correct_pair)
    assert mistake.mistake_bits.get("gradient_check", 0) > 0
    plain = compare(generated.write_flat(truth, tmp_path / "flat"), generated.ASSIGNMENT, ROOT)
    assert not any(p.mistake_bits for p in plain.pairs)


def test_hostile_code_costs_only_its_notebook(tmp_path):
    """Code built to break a normaliser (an expression 3,000 deep, a 400-digit literal) leaves that
    notebook with less evidence and the class compared as usual."""
    truth = generated.generate(independent=6, seed=3)
    hostile = next(s for s in truth.students if s.name == "s005")
    hostile.sources["forward_propagation"] = hostile.sources["forward_propagation"].replace(
        "    return J", "    J = J + " + "9" * 400 + "\n    return J")  # no float holds it
    hostile.sources["backward_propagation"] = hostile.sources["backward_propagation"].replace(
        "    return dtheta", "    dtheta = dtheta" + " + x" * 3000 + "\n    return dtheta")  # 3,000 deep
    comparison = compare(generated.write_flat(truth, tmp_path / "class"), generated.ASSIGNMENT, ROOT)
    assert "s005" in {e.name for e in comparison.entries}
    top = {_names(comparison, p) for p in comparison.pairs[:4]}
    assert frozenset({"c_rename", "s000"}) in top


def test_report_is_inert_and_escaped(tmp_path):
    """A student's code holding </script><script> is shown as text; the page has no script and loads nothing."""
    truth = generated.generate(independent=6, seed=3)
    hostile = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    original = next(s for s in truth.students if s.name == "s000")
    source = original.sources["forward_propagation"]
    assert "    return J" in source
    original.sources["forward_propagation"] = source.replace("    return J", f"    J = J + 0 * x[{hostile!r}]\n    return J")
    next(s for s in truth.students if s.name == "c_rename").sources["forward_propagation"] = \
        original.sources["forward_propagation"]
    comparison = compare(generated.write_flat(truth, tmp_path / "class"), generated.ASSIGNMENT, ROOT)
    page, table = write_report(comparison, tmp_path / "report")
    html = page.read_text(encoding="utf-8")
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "Evidence to review, not a verdict" in html
    assert table.read_text(encoding="utf-8").startswith("rank,a,b,evidence_bits")
    with pytest.raises(ReportError, match="feedback"):
        write_report(comparison, tmp_path / "feedback" / "similarity")


def test_known_solution_is_matched(tmp_path):
    """A public copy given with --known, its metadata gone, pairs with the student who handed it in
    disguised; known solutions are never paired with each other."""
    truth = generated.generate(independent=6, seed=5)
    folder = generated.write_flat(truth, tmp_path / "class")
    known = tmp_path / "known" / "public repo"
    known.mkdir(parents=True)
    source = next(s for s in truth.students if s.name == "s002")
    for copy in range(2):
        nb = source.notebook()
        for cell in nb["cells"]:
            cell["metadata"].pop("nbgrader", None)
        (known / f"Gradient Checking v{copy}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    comparison = compare(folder, generated.ASSIGNMENT, ROOT, tmp_path / "known")
    names = [_names(comparison, p) for p in comparison.pairs]
    # the 5 other copies, then the 6 pairs of this group of 4 (s002, c_loops and the two public copies)
    assert frozenset({"s002", "public repo/Gradient Checking v0.ipynb"}) in names[:11]
    assert not any(comparison.entries[p.a].known and comparison.entries[p.b].known for p in comparison.pairs)
    pair = comparison.pairs[names.index(frozenset({"c_loops", "public repo/Gradient Checking v1.ipynb"}))]
    whys = [f["why"] for f in shared_fragments(comparison, pair, pair.top_exercise)]
    assert any("matches known solution public repo/Gradient Checking v1.ipynb" in w for w in whys)


def test_command_on_the_lab_assignment(tmp_path):
    """On gradient_checking_lab (no generator there): a disguised copy of the solved sample, its cells'
    metadata gone, normalises to the same fragments as the original in every exercise, and the
    untouched release holds no fragment at all (it is all boilerplate)."""
    folder = tmp_path / "lab"
    folder.mkdir()
    samples = ROOT / "samples" / "gradient_checking_lab"
    for name in ("perfect", "untouched_release"):
        (folder / f"{name}.ipynb").write_bytes((samples / f"{name}.ipynb").read_bytes())
    nb = json.loads((samples / "perfect.ipynb").read_text(encoding="utf-8"))
    rng = random.Random(1)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {}).get("solution"):
            source = "".join(cell["source"])
            source = generated.rewrite_loops(generated.rename_locals(source, rng))
            cell["source"] = generated.add_prints_and_comments(source, rng)
            del cell["metadata"]["nbgrader"]  # metadata lost too: functions are found by name
    (folder / "copier.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["similarity", str(folder), "-a", "gradient_checking_lab", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "similarity.html").is_file() and (out / "similarity.csv").is_file()
    entries = {e.name: e for e in compare(folder, "gradient_checking_lab", ROOT).entries}
    assert len(entries["perfect"].prints) == 7 and not entries["untouched_release"].prints
    for exercise, prints in entries["perfect"].prints.items():
        assert set(entries["copier"].prints[exercise]) == set(prints), exercise
