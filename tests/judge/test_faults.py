"""Nothing lost to a fault: the broken submissions of tests/data/faults.toml, graded as one batch.

Every fault (a file that is not a notebook, a folder without one, a notebook that loops, eats
memory, forks, floods its output or crashes, nests its JSON 100,000 deep, a link, a FIFO, a name
with escape sequences, ...) is one student of a single batch with two honest neighbours
(`perfect`, `bug_backprop_dW2`). Each fault must get its own status with a message that names the
file or says what to do; the neighbours keep their grades; the batch finishes with a row for
every student. Some faults need a run of their own: a zip whose members would land outside its
folder or are links, a batch killed halfway through and run again, a rerun under other limits.
"""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.judge.sandbox import Limits
from autograder.pipeline.run.grade import GradingRun, grade
from autograder.pipeline.intake.problems import IntakeError

from support.attack_corpus import (EXERCISES, FAULT_BYTES, HONEST_TOTALS, ROOT, SAMPLES, alive, descendants, expected_statuses,
                           load_sample, load_table, write_fault)

TABLE = load_table("faults.toml")
FAULTS = TABLE["fault"]
NEIGHBOURS = TABLE["neighbours"]
LIMITS = Limits(wall_seconds=20)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def student_of(row: dict) -> str:
    """The id the CSVs show for a row (control characters escaped, formulas neutralised)."""
    return row.get("reported_as", row.get("student", row["id"]))


# -- faults made here: notebooks shaped against the reader and renderer, and file-system layouts --

def _perfect_with(placeholder_at, replacement: str) -> bytes:
    """The perfect sample's JSON with one value swapped for raw JSON text (too deep to build as objects)."""
    nb = load_sample("perfect")
    placeholder_at(nb, "@RAW@")
    return json.dumps(nb).replace('"@RAW@"', replacement).encode("utf-8")


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _deep_metadata(row, ctx) -> bytes:
    return _perfect_with(lambda nb, v: nb.metadata.__setitem__("deep", v), _nested(row["depth"]))


def _deep_output(row, ctx) -> bytes:
    def put(nb, v):
        cell = next(c for c in nb.cells if c.cell_type == "code")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"application/json": {"x": v}})]
    return _perfect_with(put, _nested(row["depth"]))


def _many_cells(row, ctx) -> bytes:
    nb = load_sample("perfect")
    nb.cells += [nbformat.v4.new_code_cell("") for _ in range(row["cells"])]
    return nbformat.writes(nb).encode("utf-8")


def _markdown_table(row, ctx) -> bytes:
    nb = load_sample("perfect")
    line = "| " + " | ".join("x" * 8 for _ in range(10)) + " |\n"
    table = "| " + " | ".join(f"h{i}" for i in range(10)) + " |\n|" + "---|" * 10 + "\n"
    nb.cells.insert(3, nbformat.v4.new_markdown_cell(table + line * (row["megabytes"] * 2**20 // len(line))))
    return nbformat.writes(nb).encode("utf-8")


FAULT_BYTES.update(deep_metadata=_deep_metadata, deep_output=_deep_output, many_cells=_many_cells,
                   markdown_table=_markdown_table)


def _target(row, submissions: Path) -> Path:
    where, _, path = row["target"].partition(":")
    return (ROOT if where == "root" else submissions) / path


def write_layout(row: dict, submissions: Path, context: dict, outside: Path) -> None:
    """Put one faults.toml row into the submissions folder, including the layouts made of links."""
    student = row.get("student", row["id"])
    layout = row.get("layout", "flat")
    perfect = SAMPLES / "perfect.ipynb"
    if layout == "symlink":
        (submissions / f"{student}.ipynb").symlink_to(_target(row, submissions))
    elif layout == "symlink_folder":
        folder = outside / student / "gradient_checking"
        folder.mkdir(parents=True)
        shutil.copy(perfect, folder / "gradient_checking.ipynb")
        (submissions / student).symlink_to(outside / student, target_is_directory=True)
    elif layout == "symlink_inside":
        folder = submissions / student / "gradient_checking"
        folder.mkdir(parents=True)
        (folder / "gradient_checking.ipynb").symlink_to(_target(row, submissions))
    elif layout == "hardlink":
        copy = outside / f"{student}-original.ipynb"
        shutil.copy(perfect, copy)
        os.link(copy, submissions / f"{student}.ipynb")
    elif layout == "fifo":
        os.mkfifo(submissions / f"{student}.ipynb")
    elif layout == "twice":
        shutil.copy(perfect, submissions / f"{student}.ipynb")
        folder = submissions / student / "gradient_checking"
        folder.mkdir(parents=True)
        shutil.copy(SAMPLES / "bug_backprop_dW2.ipynb", folder / "gradient_checking.ipynb")
    else:
        write_fault(row, submissions, context)


@dataclass
class Batch:
    run: GradingRun
    out: Path
    rows: dict  # {student: {exercise: csv row}}
    totals: dict  # {student: grades.csv row}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    submissions, out, outside = base / "in", base / "out", base / "outside"
    submissions.mkdir()
    outside.mkdir()
    for name in NEIGHBOURS:
        shutil.copy(SAMPLES / f"{name}.ipynb", submissions / f"{name}.ipynb")
    context = {"ROOT": ROOT, "OUT": out, "SUBMISSIONS": submissions, "TESTPID": os.getpid()}
    for row in FAULTS:
        write_layout(row, submissions, {**context, "STUDENT": row.get("student", row["id"])}, outside)
    run = grade(submissions, "gradient_checking", out, jobs=2, limits=LIMITS, progress=False)
    by_student: dict = {}
    for r in read_csv(run.exercises_csv):
        by_student.setdefault(r["student_id"], {})[r["exercise"]] = r
    yield Batch(run, out, by_student, {r["student_id"]: r for r in read_csv(run.grades_csv)})
    (submissions / "huge_notebook.ipynb").unlink(missing_ok=True)  # 100 MB: not kept for the session


def fault_params():
    return [pytest.param(row, id=row["id"], marks=[pytest.mark.xfail(reason=row["xfail"], strict=True)]
                         if row.get("xfail") else []) for row in FAULTS]


def test_the_corpus_is_big_enough():
    assert len(FAULTS) >= 15
    assert len({student_of(row) for row in FAULTS}) == len(FAULTS)
    for row in FAULTS:
        assert row.get("what") and set(row.get("expect", {})) <= set(EXERCISES) | {"all"}, row["id"]


@pytest.mark.parametrize("row", fault_params())
def test_a_fault_gets_its_own_status_and_a_clear_message(batch, row):
    student = student_of(row)
    assert student in batch.rows, f"{student!r} has no row in grades_by_exercise.csv"
    got = batch.rows[student]
    assert sorted(got) == sorted(EXERCISES)
    expected = expected_statuses(row)
    for exercise, r in got.items():
        full = float(r["max_score"])
        assert (r["status"], float(r["score"])) == (
            expected[exercise], full if expected[exercise] == "passed" else 0.0), (exercise, r["message"])
        if r["status"] != "passed":
            for text in row.get("message", []):
                assert text in r["message"], (exercise, text, r["message"])
            assert r["message"] and "Traceback" not in r["message"], (exercise, r["message"])
    if "note" in row:
        assert row["note"] in batch.run.notes.get(student, ""), batch.run.notes.get(student)


@pytest.mark.parametrize("name", sorted(NEIGHBOURS))
def test_the_honest_neighbours_keep_their_grades(batch, name):
    expected = expected_statuses({"expect": NEIGHBOURS[name]})
    for exercise, r in batch.rows[name].items():
        assert r["status"] == expected[exercise], (exercise, r["message"])
    assert batch.totals[name]["score"] == HONEST_TOTALS[name]


def test_every_submission_is_in_the_grades_and_nothing_else(batch):
    reported = {student_of(row) for row in FAULTS if not row.get("xfail")} | set(NEIGHBOURS)
    assert reported <= set(batch.totals)
    assert set(batch.totals) <= reported | {student_of(row) for row in FAULTS}


def test_a_flood_of_output_is_capped_in_the_feedback(batch):
    html = batch.out / "feedback" / "output_flood" / "gradient_checking" / "gradient_checking.html"
    assert html.is_file() and html.stat().st_size < 5 * 2**20
    assert "more characters not shown" in html.read_text(encoding="utf-8")


CONTROL = ("\x1b", "\x07", "\u202e", "\x00")


def test_no_control_character_reaches_the_csvs_or_the_notes(batch):
    for path in (batch.run.grades_csv, batch.run.exercises_csv):
        text = path.read_text(encoding="utf-8")
        assert not any(c in text for c in CONTROL), path.name
    for student, note in batch.run.notes.items():
        assert not any(c in student + note for c in CONTROL), (student, note)


def test_no_csv_cell_starts_like_a_formula(batch):
    for path in (batch.run.grades_csv, batch.run.exercises_csv):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                for cell in row:
                    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (path.name, cell)


def test_the_kits_csv_does_not_collide_with_nbgrader_export(batch):
    assert batch.run.grades_csv.name == "scores.csv" and batch.run.grades_csv.parent == batch.out
    assert not (batch.out / "grades.csv").exists()  # left for nbgrader export


def test_the_linked_targets_are_untouched_and_unread(batch):
    source = ROOT / "source" / "gradient_checking" / "gradient_checking.ipynb"
    assert source.is_file() and not source.is_symlink()
    for student in ("link_to_neighbour", "link_to_source", "linked_folder", "link_inside_folder", "hard_link"):
        assert not (batch.out / "submitted" / student).exists(), student  # never reached nbgrader


def test_a_huge_markdown_table_costs_at_most_its_own_feedback(batch):
    feedback = batch.out / "feedback" / "markdown_table" / "gradient_checking" / "gradient_checking.html"
    note = batch.run.notes.get("markdown_table", "")
    assert feedback.is_file() or "feedback page could not be written" in note, note
    assert batch.totals["markdown_table"]["score"] == HONEST_TOTALS["perfect"]


# -- a zip whose members would be written outside its folder ---------------------------------

@pytest.fixture(scope="module")
def zip_batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("zip")
    mark = f"gc-escape-{os.getpid()}"
    archive = base / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in NEIGHBOURS:
            zf.write(SAMPLES / f"{name}.ipynb", f"submissions/{name}.ipynb")
        for member in (f"../{mark}-1.ipynb", f"submissions/../../{mark}-2.ipynb", f"/tmp/{mark}-3.ipynb",
                       f"submissions\\..\\..\\{mark}-4.ipynb"):
            zf.writestr(member, (SAMPLES / "perfect.ipynb").read_bytes())
        link = zipfile.ZipInfo("submissions/zip_symlink.ipynb")
        link.external_attr = (0o120777 << 16)  # a symbolic link member, as `zip --symlinks` stores it
        zf.writestr(link, str(ROOT / "source" / "gradient_checking" / "gradient_checking.ipynb"))
    try:
        outcome = grade(archive, "gradient_checking", base / "out", jobs=2, limits=LIMITS, progress=False)
    except IntakeError as exc:
        outcome = exc
    return base, mark, outcome


def test_a_zip_member_that_escapes_its_folder_is_never_written(zip_batch):
    base, mark, _ = zip_batch
    for folder in (base, base.parent, Path("/tmp"), Path.cwd(), ROOT):
        assert not list(folder.glob(f"{mark}*")), f"a zip member escaped into {folder}"


def test_a_zip_member_that_escapes_its_folder_costs_only_itself(zip_batch):
    _, mark, outcome = zip_batch
    assert not isinstance(outcome, IntakeError), f"one escaping member stopped the whole zip: {outcome}"
    totals = {r["student_id"]: r for r in read_csv(outcome.grades_csv)}
    assert {name: totals[name]["score"] for name in HONEST_TOTALS} == HONEST_TOTALS
    assert any(mark in r.message for r in outcome.rows if r.status == "error"), "the escaping members go unreported"


def test_a_zip_member_that_is_a_link_is_refused(zip_batch):
    _, _, outcome = zip_batch
    rows = [r for r in outcome.rows if r.student_id == "zip_symlink"]
    assert rows and all(r.status == "error" and r.score == 0 for r in rows)
    assert "is a symbolic link" in rows[0].message


# -- a batch killed halfway, then run again --------------------------------------------------

RESUME_CLASS = {"alice": "perfect", "bob": "bug_backprop_dW2", "carol": "bug_flatten_order",
                "dave": "perfect", "erin": "bug_one_sided_check", "frank": "bug_backprop_dW2"}


def grade_command(submissions: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out), "--jobs", "2",
            "--time-limit", str(LIMITS.wall_seconds)]


def graded_students(out: Path) -> set[str]:
    """Students whose worker finished (marking the verdict record complete is its last step)."""
    done = set()
    for record in (out / "verdicts").glob("*/gradient_checking.json"):
        try:
            if json.loads(record.read_text(encoding="utf-8")).get("complete"):
                done.add(record.parent.name)
        except (OSError, ValueError):
            continue  # being written
    return done


@pytest.fixture(scope="module")
def killed_and_rerun(tmp_path_factory):
    base = tmp_path_factory.mktemp("resume")
    submissions = base / "in"
    submissions.mkdir()
    for student, sample in RESUME_CLASS.items():
        shutil.copy(SAMPLES / f"{sample}.ipynb", submissions / f"{student}.ipynb")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    whole = subprocess.run(grade_command(submissions, base / "whole"), capture_output=True, text=True, env=env,
                           cwd=ROOT, timeout=600)
    assert whole.returncode == 0, whole.stderr[-2000:]

    out = base / "resumed"
    proc = subprocess.Popen(grade_command(submissions, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 300
    while len(graded_students(out)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the batch finished before it could be killed"
    below = descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)  # the batch dies as a terminal or a machine would kill it
    proc.wait()
    graded = graded_students(out)
    stamps = {s: (out / "verdicts" / s / "gradient_checking.json").stat().st_mtime_ns for s in graded}
    # Its workers run in sessions of their own: let what is left of the batch end (at most a
    # student each), then end any straggler by its pid, so the rerun starts on a still folder.
    deadline = time.monotonic() + 120
    while any(alive(pid) for pid in below) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in below:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    rerun = subprocess.run(grade_command(submissions, out), capture_output=True, text=True, env=env, cwd=ROOT,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    regraded = {s for s in graded
                if (out / "verdicts" / s / "gradient_checking.json").stat().st_mtime_ns != stamps[s]}
    return base / "whole", out, graded, regraded


def without_timing(rows):
    return sorted((r["student_id"], r["exercise"], r["score"], r["max_score"], r["status"], r["message"])
                  for r in rows)


def test_a_batch_killed_halfway_and_run_again_loses_nothing(killed_and_rerun):
    whole, resumed, graded, _ = killed_and_rerun
    assert 2 <= len(graded) < len(RESUME_CLASS)
    assert without_timing(read_csv(resumed / "grades_by_exercise.csv")) == \
        without_timing(read_csv(whole / "grades_by_exercise.csv"))
    assert read_csv(resumed / "scores.csv") == read_csv(whole / "scores.csv")


def test_a_batch_killed_halfway_keeps_what_it_had_graded(killed_and_rerun):
    _, _, graded, regraded = killed_and_rerun
    assert not regraded, f"graded again after the restart: {sorted(regraded)}"
