"""The instructor's similarity report: an HTML page and a CSV, ranked by evidence (trusted side).

Evidence to review, not a verdict. Student code is hostile: everything from a notebook is escaped
(html.escape, untrusted_text.printable), the page has no script and loads nothing (its
Content-Security-Policy forbids both), and CSV cells cannot start a spreadsheet formula.
"""
from __future__ import annotations

import csv
import html
from pathlib import Path

from ..untrusted_text import csv_row, printable
from .compare import Comparison
from .evidence import WHOLE_FACTOR, WHOLE_MIN_SHARE, WHOLE_OVERLAP, Pair
from .exercises import Code, notebook_code
from .fingerprints import fragment_texts

CSV_FILE = "similarity.csv"
HTML_FILE = "similarity.html"
CSV_COLUMNS = ["rank", "a", "b", "evidence_bits", "flagged", "group", "top_exercise", "exercises",
               "shared_mistake_bits", "known_solution", "rank_bits", "whole_exercise"]
#: Pairs shown in full on the page (all pairs are in the CSV); fragments shown per exercise.
SHOWN_PAIRS = 60
SHOWN_FRAGMENTS = 8
LABEL = "Evidence to review, not a verdict"


class ReportError(Exception):
    """The report cannot be written where asked; the message says where to write it instead."""


def _esc(text: object) -> str:
    return html.escape(printable(str(text), keep_newlines=True), quote=True)


def _lines(source: str, first: int, last: int) -> str:
    lines = source.splitlines()
    return "\n".join(lines[max(0, first - 1):max(first, last)])


def _code(comparison: Comparison, index: int, exercise: str) -> Code | None:
    """The exercise's code of an entry again, parsed from its kept source (the report's pairs only)."""
    kept = comparison.entries[index].code.get(exercise)
    if kept is None:
        return None
    nb = {"cells": [{"cell_type": "code", "source": kept.source, "metadata": {}}]}
    code = notebook_code(nb, comparison.assignment.exercises).get(exercise)
    return Code(code.functions, code.source, kept.globals) if code else None


def shared_fragments(comparison: Comparison, pair: Pair, exercise: str) -> list[dict]:
    """The rare fragments a pair shares in an exercise, rarest first, with both sides' lines and why."""
    a, b = comparison.entries[pair.a], comparison.entries[pair.b]
    index = comparison.index
    limit, n = index.rare_limit(exercise), index.attempted.get(exercise, 0)
    code_a, code_b = _code(comparison, pair.a, exercise), _code(comparison, pair.b, exercise)
    texts = fragment_texts(code_a) if code_a else {}
    reference = comparison.reference.get(exercise)
    shown = []
    for key, span_a in a.prints.get(exercise, {}).items():
        span_b = b.prints[exercise].get(key) if exercise in b.prints else None
        k = index.holders(exercise, key)
        if span_b is None or k > limit:
            continue
        why = [f"rare in the class: {k} of {n} notebooks"]
        if reference is not None and key not in reference:
            why.append("not in the reference solution")
            if exercise in a.failing and exercise in b.failing:
                why.append("shared mistake: both fail this exercise")
        for side in (a, b):
            if side.known:
                why.append(f"matches known solution {side.name}")
        shown.append({"key": key, "k": k, "text": texts.get(key, ""), "why": "; ".join(why),
                      "a": _lines(code_a.source, *span_a) if code_a else "",
                      "b": _lines(code_b.source, *span_b) if code_b else ""})
    # rarest first; among equals, the code as written before its data-flow forms (`= ...`, `return ...`)
    shown.sort(key=lambda f: (f["k"], f["text"].startswith(("= ", "return ")), -len(f["a"])))
    # one row per distinct pair of source excerpts: nested fragments of one line show once
    distinct, seen = [], set()
    for fragment in shown:
        if (fragment["a"], fragment["b"]) not in seen:
            seen.add((fragment["a"], fragment["b"]))
            distinct.append(fragment)
    return distinct


def _group_of(comparison: Comparison) -> dict[int, int]:
    return {member: g + 1 for g, members in enumerate(comparison.groups) for member in members}


def write_csv(comparison: Comparison, path: Path) -> None:
    group = _group_of(comparison)
    entries = comparison.entries
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for rank, pair in enumerate(comparison.pairs, 1):
            a, b = entries[pair.a], entries[pair.b]
            exercises = " ".join(f"{e}:{bits:.1f}" for e, bits in sorted(pair.bits.items(), key=lambda x: -x[1]))
            known = next((e.name for e in (a, b) if e.known), "")
            writer.writerow(csv_row([rank, printable(a.name), printable(b.name), f"{pair.total:.1f}",
                                     "yes" if pair.total >= comparison.threshold else "no",
                                     group.get(pair.a, "") if pair.total >= comparison.threshold else "", pair.top_exercise,
                                     exercises, f"{sum(pair.mistake_bits.values()):.1f}", printable(known),
                                     f"{pair.score:.1f}", pair.whole_exercise]))


STYLE = """body{font-family:sans-serif;margin:1.5em;max-width:110em}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.8em;font-weight:bold}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.3em;vertical-align:top}
pre{margin:0;white-space:pre-wrap;font-size:.85em;max-width:50em}.why{font-size:.85em;color:#444}
.flag{color:#a00;font-weight:bold}"""


def _whole(pair: Pair) -> str:
    return (f"{pair.whole_exercise} shared whole: {pair.overlap[pair.whole_exercise]:.0%} of each side's rare code, "
            f"ranked as {pair.score:.1f} bits")


def _pair_section(comparison: Comparison, rank: int, pair: Pair) -> list[str]:
    a, b = comparison.entries[pair.a], comparison.entries[pair.b]
    flag = ' <span class="flag">flagged</span>' if pair.total >= comparison.threshold else ""
    out = [f'<h3 id="pair-{rank}">{rank}. {_esc(a.name)} &mdash; {_esc(b.name)}: {pair.total:.1f} bits{flag}</h3>']
    if pair.whole_exercise:
        out.append(f"<p>{_esc(_whole(pair))}.</p>")
    for exercise, bits in sorted(pair.bits.items(), key=lambda x: -x[1]):
        if bits < 0.5:
            continue
        mistake = pair.mistake_bits.get(exercise, 0.0)
        note = f", of which shared mistakes {mistake:.1f}" if mistake else ""
        out.append(f"<h4>{_esc(exercise)}: {bits:.1f} bits{note}; they share {pair.coverage.get(exercise, 0):.0%} "
                   "of the smaller side's rare code</h4>")
        out.append(f"<table><tr><th>{_esc(a.name)}</th><th>{_esc(b.name)}</th><th>why it counts</th></tr>")
        for fragment in shared_fragments(comparison, pair, exercise)[:SHOWN_FRAGMENTS]:
            out.append(f"<tr><td><pre>{_esc(fragment['a'])}</pre></td><td><pre>{_esc(fragment['b'])}</pre></td>"
                       f"<td class=\"why\">{_esc(fragment['why'])}<br>normalised: <code>"
                       f"{_esc(fragment['text'][:300])}</code></td></tr>")
        out.append("</table>")
    return out


def write_html(comparison: Comparison, path: Path) -> None:
    entries = comparison.entries
    students = sum(not e.known for e in entries)
    known = len(entries) - students
    title = f"Similarity: {comparison.assignment.name}"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
           f"<title>{_esc(title)}</title><style>{STYLE}</style></head><body>",
           f"<h1>{_esc(title)}</h1>",
           f'<p class="banner">{LABEL}. Shared code is shown with why it counts; whether it was copied is for '
           "you to judge, with the students. Not for students: keep this page out of feedback.</p>",
           f"<p>{students} student notebooks from {_esc(comparison.corpus.source)}"
           + (f", {known} known solutions" if known else "")
           + ("; verdicts read from the graded folder" if comparison.corpus.graded else "; no verdicts (not a graded folder)")
           + f". A fragment is evidence when few notebooks hold it; it weighs log2(N/k) bits when k of N hold it, "
           f"three times that when both students fail the exercise and the reference solution does not hold it "
           f"(a shared mistake). The release's own code is never evidence. Flagged: {comparison.threshold:.0f} bits or more. "
           f"A pair sharing nearly all of both sides' rare code in one exercise ({WHOLE_OVERLAP:.0%}), with at least "
           f"{WHOLE_MIN_SHARE * comparison.threshold:.0f} bits there, is ranked by {WHOLE_FACTOR:g} times that "
           "exercise's evidence when it is more than the notebook's: a student may copy one function.</p>"]
    if comparison.groups:
        out.append("<h2>Groups (connected by flagged pairs)</h2><ol>")
        for members in comparison.groups:
            out.append("<li>" + ", ".join(_esc(entries[i].name) for i in members) + "</li>")
        out.append("</ol>")
    out.append("<h2>Pairs, by evidence</h2><table><tr><th>#</th><th>a</th><th>b</th><th>bits</th>"
               "<th>exercises (bits)</th><th>notes</th></tr>")
    for rank, pair in enumerate(comparison.pairs[:SHOWN_PAIRS], 1):
        exercises = ", ".join(f"{_esc(e)} {v:.0f}" for e, v in sorted(pair.bits.items(), key=lambda x: -x[1]) if v >= 0.5)
        notes = ["<span class=\"flag\">flagged</span>"] if pair.total >= comparison.threshold else []
        if pair.whole_exercise:
            notes.append(_esc(_whole(pair)))
        if pair.mistake_bits:
            notes.append("shared mistake in " + ", ".join(_esc(e) for e in sorted(pair.mistake_bits)))
        notes += [f"known solution {_esc(entries[i].name)}" for i in (pair.a, pair.b) if entries[i].known]
        out.append(f'<tr><td><a href="#pair-{rank}">{rank}</a></td><td>{_esc(entries[pair.a].name)}</td>'
                   f"<td>{_esc(entries[pair.b].name)}</td><td>{pair.total:.1f}</td><td>{exercises}</td>"
                   f"<td>{'; '.join(notes)}</td></tr>")
    out.append("</table>")
    for rank, pair in enumerate(comparison.pairs[:SHOWN_PAIRS], 1):
        out += _pair_section(comparison, rank, pair)
    if comparison.identical:
        out.append("<h2>Identical after normalisation (shown, not weighed)</h2><p>Notebooks whose code for an "
                   "exercise is the same once comments, names, layout and order are set aside. A form many hold is "
                   "often the one the assignment's hints lead to; a small group holding a long form is worth a "
                   "look.</p><table><tr><th>exercise</th><th>fragments</th><th>held by</th><th>notebooks</th></tr>")
        for same in comparison.identical:
            names = ", ".join(_esc(entries[i].name) for i in same.members)
            out.append(f"<tr><td>{_esc(same.exercise)}</td><td>{same.fragments}</td>"
                       f"<td>{len(same.members)} of {same.attempted}</td><td>{names}</td></tr>")
        out.append("</table>")
    problems = [f"{p.student_id}: {p.message}" for p in comparison.corpus.problems] + comparison.messages
    if problems:
        out.append("<h2>Not compared</h2><ul>" + "".join(f"<li>{_esc(m)}</li>" for m in problems) + "</ul>")
    out.append("</body></html>")
    path.write_text("\n".join(out), encoding="utf-8")


def write_report(comparison: Comparison, folder: Path) -> tuple[Path, Path]:
    """similarity.html and similarity.csv in folder (never inside a feedback/ folder students get)."""
    folder = Path(folder)
    if "feedback" in folder.resolve().parts:
        raise ReportError(f"{printable(str(folder))} is inside a feedback/ folder, which students get; "
                          "write the report elsewhere (--out)")
    folder.mkdir(parents=True, exist_ok=True)
    page, table = folder / HTML_FILE, folder / CSV_FILE
    write_html(comparison, page)
    write_csv(comparison, table)
    return page, table
