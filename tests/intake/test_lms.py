"""Canvas and Moodle downloads in, grades the LMS imports back out, through a roster."""
import csv
import hashlib
import shutil
import zipfile

import pytest
from click.testing import CliRunner

from autograder.cli import main
from autograder.judge.sandbox import Limits
from autograder.pipeline.intake import intake
from autograder.pipeline.run.grade import grade
from autograder.pipeline.intake.submission_names import STUDENT_ID as STUDENT_ID_RE
from autograder.pipeline.intake.lms import RosterError, layout_of, name_keys, read_roster, scan
from autograder.grading_output.lms_export import CANVAS_COLUMNS, MOODLE_COLUMNS, choose_flavor, write_lms_grades
from autograder.grading_output.reports import ExerciseRow

from support import ROOT

SAMPLES = ROOT / "samples" / "gradient_checking"
NOTEBOOK = "gradient_checking"


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def make_zip(path, members):
    """members: {name in the zip: sample notebook stem, or bytes}."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content if isinstance(content, bytes) else (SAMPLES / f"{content}.ipynb").read_bytes())
    return path


@pytest.fixture
def canvas_roster(tmp_path):
    return write_csv(tmp_path / "roster.csv", ["student_id", "canvas_id", "name", "sis_user_id", "section"], [
        ["s1001", "111", "Doe, John", "SIS-1", "A"],
        ["s1002", "222", "Mary Ann Smith", "SIS-2", "A"],
        ["s1003", "333", "Lee, Kim", "SIS-3", "B"],
        ["s1004", "444", "Absent, Al", "SIS-4", "B"],
    ])


CANVAS_CLASS = {
    "doejohn_111_9001_gradient_checking.ipynb": "perfect",
    "smithmaryann_LATE_222_9002_gradient_checking-1.ipynb": "bug_backprop_dW2",
    "leekim_333_9003_gradient_checking.ipynb": "untouched_release",
}


def test_canvas_download_graded_with_a_roster_exports_the_roster_ids(tmp_path, canvas_roster):
    download = make_zip(tmp_path / "submissions.zip", CANVAS_CLASS)
    assert choose_flavor("lms", read_roster(canvas_roster), download) == "canvas"
    run = grade(download, "gradient_checking", tmp_path / "out", jobs=2, limits=Limits(wall_seconds=20),
                progress=False, roster=canvas_roster)
    grades = {r["student_id"]: r for r in read_csv(run.grades_csv)}
    assert {s: g["score"] for s, g in grades.items()} == {"s1001": "15", "s1002": "12", "s1003": "0"}
    assert "LATE" in run.notes["s1002"]

    path, left_out = write_lms_grades(run.out, run.rows, "canvas", canvas_roster, "Gradient Checking (77)")
    assert path.name == "lms_grades_gradient_checking.csv" and left_out == []
    rows = read_csv(path)
    assert list(rows[0]) == CANVAS_COLUMNS + ["Gradient Checking (77)"]
    assert rows[0]["Student"].strip() == "Points Possible" and rows[0]["Gradient Checking (77)"] == "15"
    by_sis = {r["SIS User ID"]: r for r in rows[1:]}
    roster = {r["sis_user_id"]: r for r in read_csv(canvas_roster)}
    assert {roster[sis]["student_id"]: r["Gradient Checking (77)"] for sis, r in by_sis.items()} == {
        "s1001": "15", "s1002": "12", "s1003": "0", "s1004": ""}  # no submission: left unchanged in Canvas
    assert {r["ID"] for r in rows[1:]} == {"111", "222", "333", "444"}


def take_in(tmp_path, download, roster=None):
    return intake.take_in(download, "gradient_checking", NOTEBOOK, tmp_path / "course", roster=roster)


def test_canvas_resubmission_late_and_roster_miss(tmp_path, canvas_roster):
    download = make_zip(tmp_path / "c.zip", {
        "doejohn_111_9001_gradient_checking.ipynb": "untouched_release",
        "doejohn_111_9004_gradient_checking-2.ipynb": "perfect",
        "doejohn_111_9003_gradient_checking-1.ipynb": "bug_backprop_dW2",
        "strangerjane_555_9005_gradient_checking.ipynb": "perfect",
        "leekim_333_9006_essay.pdf": b"%PDF-1.4",
    })
    taken = take_in(tmp_path, download, canvas_roster)
    assert sorted(taken.students) == ["s1001"]
    graded = taken.students["s1001"].read_bytes()
    assert graded == (tmp_path / "course/submitted/s1001/gradient_checking/gradient_checking.ipynb").read_bytes()
    assert taken.notes["s1001"].startswith("graded gradient_checking-2.ipynb; also uploaded")
    assert taken.sha256["s1001"] == hashlib.sha256((SAMPLES / "perfect.ipynb").read_bytes()).hexdigest()
    problems = {p.student_id: p for p in taken.problems}
    assert problems["canvas_555"].status == "error"
    assert "strangerjane_555_9005_gradient_checking.ipynb" in problems["canvas_555"].message
    assert "add them to the roster" in problems["canvas_555"].message
    assert problems["s1003"].status == "missing" and "essay.pdf" in problems["s1003"].message


def test_canvas_without_roster_derives_ids_from_canvas_user_ids(tmp_path):
    taken = take_in(tmp_path, make_zip(tmp_path / "c.zip", CANVAS_CLASS))
    assert sorted(taken.students) == ["canvas_111", "canvas_222", "canvas_333"]
    assert taken.problems == []


@pytest.fixture
def moodle_download(tmp_path):
    folder = tmp_path / "download" / "Assignment 3-Gradient checking"  # Moodle wraps nothing, a teacher might
    entries = {
        "John Doe_501_assignsubmission_file_/gradient_checking.ipynb": "perfect",
        "Mary Ann Smith_502_assignsubmission_file_/my gc.ipynb": "bug_backprop_dW2",
        "Kim Lee_503_assignsubmission_file_/notes.pdf": b"%PDF",
        "Kim Lee_503_assignsubmission_onlinetext_/onlinetext.html": b"<p>see attached</p>",
        "Nobody Here_504_assignsubmission_file_/gradient_checking.ipynb": "perfect",
        "Old Style_505_assignsubmission_file_gradient_checking.ipynb": "perfect",
    }
    for name, content in entries.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else (SAMPLES / f"{content}.ipynb").read_bytes())
    return tmp_path / "download"


def test_moodle_folders_map_through_the_roster_by_id_then_name(tmp_path, moodle_download):
    roster = write_csv(tmp_path / "moodle.csv", ["Student ID", "Moodle ID", "Name", "Email"], [
        ["u1", "Participant 501", "John Doe", "jd@example.org"],
        ["u2", "", "Smith, Mary Ann", "ms@example.org"],
        ["u3", "503", "Kim Lee", ""],
        ["u5", "505", "Old Style", ""],
    ])
    assert layout_of(moodle_download) == "moodle"
    taken = take_in(tmp_path, moodle_download, roster)
    assert sorted(taken.students) == ["u1", "u2", "u5"]
    assert "my gc.ipynb" in taken.notes["u2"]
    problems = {p.student_id: p for p in taken.problems}
    assert set(problems) == {"u3", "moodle_504"}
    assert problems["u3"].status == "missing" and "notes.pdf" in problems["u3"].message
    miss = problems["moodle_504"].message
    assert "Nobody Here_504_assignsubmission_file_/gradient_checking.ipynb" in miss and "add them to the roster" in miss

    rows = [ExerciseRow("u1", "gradient_checking", "test_x", 15, 15, "passed", ""),
            ExerciseRow("u2", "gradient_checking", "test_x", 12, 15, "failed", ""),
            ExerciseRow("moodle_504", "gradient_checking", "test_x", 0, 15, "error", "")]
    assert choose_flavor("lms", read_roster(roster), moodle_download) == "moodle"
    path, left_out = write_lms_grades(tmp_path, rows, "moodle", roster)
    assert left_out == ["moodle_504"]
    exported = read_csv(path)
    assert list(exported[0]) == MOODLE_COLUMNS
    assert [(r["Identifier"], r["ID number"], r["Grade"]) for r in exported] == [
        ("Participant 501", "u1", "15"), ("", "u2", "12"), ("Participant 503", "u3", ""), ("Participant 505", "u5", "")]


def test_moodle_zip_without_roster(tmp_path, moodle_download):
    download = shutil.make_archive(str(tmp_path / "moodle"), "zip", moodle_download)
    taken = take_in(tmp_path, download)
    assert sorted(taken.students) == ["moodle_501", "moodle_502", "moodle_504", "moodle_505"]
    assert [p.student_id for p in taken.problems] == ["moodle_503"]


def test_the_kits_own_layouts_are_not_taken_for_an_lms(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    for stem in ("perfect", "bug_backprop_dW2"):
        shutil.copy(SAMPLES / f"{stem}.ipynb", folder / f"{stem}.ipynb")
    assert scan(folder) is None and layout_of(folder) is None
    assert sorted(take_in(tmp_path, folder).students) == ["bug_backprop_dW2", "perfect"]


@pytest.mark.parametrize("lms_name, roster_name", [
    ("doejohn", "Doe, John"), ("doejohn", "John Doe"), ("smithmaryann", "Mary Ann Smith"),
    ("Mary Ann Smith", "Smith, Mary Ann"), ("muller", "Müller")])
def test_names_match_across_lms_spellings(lms_name, roster_name):
    assert name_keys(lms_name) & name_keys(roster_name)


def test_a_roster_without_the_needed_columns_says_which(tmp_path):
    roster = write_csv(tmp_path / "r.csv", ["id", "email"], [["1", "a@b"]])
    with pytest.raises(RosterError, match="needs a student_id column"):
        read_roster(roster)
    result = CliRunner().invoke(main, ["grade", str(tmp_path), "--roster", str(roster), "--export", "lms"])
    assert result.exit_code != 0 and "needs a student_id column" in result.output


def test_export_lms_needs_to_know_which_lms(tmp_path):
    roster = write_csv(tmp_path / "r.csv", ["student_id", "name"], [["s1", "A B"]])
    result = CliRunner().invoke(main, ["grade", str(SAMPLES), "--roster", str(roster), "--export", "lms"])
    assert result.exit_code != 0 and "--lms-export canvas" in result.output


# -- intake never guesses: ids only from the download's structure (issue 10, item 6) ----------

def write_moodle(folder, entries):
    """entries: {path below folder: sample stem, or bytes}; returns folder."""
    for name, content in entries.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else (SAMPLES / f"{content}.ipynb").read_bytes())
    return folder


def sha(stem):
    return hashlib.sha256((SAMPLES / f"{stem}.ipynb").read_bytes()).hexdigest()


def test_a_moodle_flat_file_named_like_another_participants_is_never_filed_under_them(tmp_path):
    download = write_moodle(tmp_path / "d", {
        "John Doe_501_assignsubmission_file_gradient_checking.ipynb": "perfect",
        "Mallory Evil_506_assignsubmission_file_John Doe_501_assignsubmission_file_gradient_checking.ipynb":
            "bug_backprop_dW2",
    })
    roster = write_csv(tmp_path / "r.csv", ["student_id", "moodle_id", "name"],
                       [["u1", "501", "John Doe"], ["u6", "506", "Mallory Evil"]])
    for table in (roster, None):
        taken = take_in(tmp_path / ("a" if table else "b"), download, table)
        john = "u1" if table else "moodle_501"
        assert taken.sha256[john] == sha("perfect") and john not in taken.notes  # nothing merged into John's
        assert "u6" not in taken.students and "moodle_506" not in taken.students
        refused = [p for p in taken.problems if "names 2 participants" in p.message]
        assert refused and not STUDENT_ID_RE.match(refused[0].student_id)  # its own row, never a gradebook id


def test_a_moodle_full_name_set_to_a_classmates_never_merges_the_two(tmp_path):
    download = write_moodle(tmp_path / "d", {
        "John Doe_501_assignsubmission_file_/gradient_checking.ipynb": "perfect",
        "John Doe_506_assignsubmission_file_/gradient_checking.ipynb": "bug_backprop_dW2",  # Mallory renamed
    })
    with_ids = write_csv(tmp_path / "ids.csv", ["student_id", "moodle_id", "name"], [["u1", "501", "John Doe"]])
    taken = take_in(tmp_path / "a", download, with_ids)
    assert sorted(taken.students) == ["u1"] and taken.sha256["u1"] == sha("perfect") and "u1" not in taken.notes
    assert "matches no row" in {p.student_id: p for p in taken.problems}["moodle_506"].message

    names_only = write_csv(tmp_path / "names.csv", ["student_id", "name"], [["u1", "John Doe"], ["u6", "Mallory E"]])
    taken = take_in(tmp_path / "b", download, names_only)
    assert taken.students == {}  # which John is John cannot be told from names: neither is graded as u1
    problems = {p.student_id: p.message for p in taken.problems}
    assert set(problems) == {"moodle_501", "moodle_506"}
    assert all("cannot be told from names" in m for m in problems.values())


def test_a_name_matching_several_roster_rows_is_refused(tmp_path):
    download = write_moodle(tmp_path / "d", {"Kim Lee_503_assignsubmission_file_/gradient_checking.ipynb": "perfect"})
    roster = write_csv(tmp_path / "r.csv", ["student_id", "name"], [["u3", "Kim Lee"], ["u9", "Lee, Kim"]])
    taken = take_in(tmp_path, download, roster)
    assert taken.students == {}
    assert "matches several rows" in taken.problems[0].message and "u3, u9" in taken.problems[0].message


def test_a_canvas_file_name_holding_another_users_id_stays_with_its_uploader(tmp_path, canvas_roster):
    download = make_zip(tmp_path / "c.zip", {
        "doejohn_111_9001_gradient_checking.ipynb": "perfect",
        "leekim_333_9007_doejohn_111_9001_gradient_checking.ipynb": "bug_backprop_dW2",
    })
    taken = take_in(tmp_path, download, canvas_roster)
    assert taken.sha256["s1001"] == sha("perfect") and "s1001" not in taken.notes
    assert taken.sha256["s1003"] == sha("bug_backprop_dW2")  # Kim's own upload, under Kim


def test_links_in_an_lms_download_are_refused(tmp_path, canvas_roster):
    archive = tmp_path / "c.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("doejohn_111_9001_gradient_checking.ipynb", (SAMPLES / "perfect.ipynb").read_bytes())
        link = zipfile.ZipInfo("leekim_333_9003_gradient_checking.ipynb")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "doejohn_111_9001_gradient_checking.ipynb")
    taken = take_in(tmp_path, archive, canvas_roster)
    assert sorted(taken.students) == ["s1001"]
    assert "is a symbolic link" in {p.student_id: p for p in taken.problems}["s1003"].message

    folder = write_moodle(tmp_path / "m", {"John Doe_501_assignsubmission_file_/gradient_checking.ipynb": "perfect"})
    (folder / "Kim Lee_503_assignsubmission_file_").mkdir()
    (folder / "Kim Lee_503_assignsubmission_file_" / "gradient_checking.ipynb").symlink_to(
        folder / "John Doe_501_assignsubmission_file_" / "gradient_checking.ipynb")
    taken = take_in(tmp_path / "moodle", folder)
    assert sorted(taken.students) == ["moodle_501"]
    assert "is a symbolic link" in {p.student_id: p for p in taken.problems}["moodle_503"].message


def test_names_with_escape_sequences_are_never_shown_raw(tmp_path):
    evil = "Evil\x1b]0;owned\x07\x1b[2J"
    download = write_moodle(tmp_path / "d", {
        f"{evil}_507_assignsubmission_file_/notes\x1b[31m.pdf": b"%PDF",
        "John Doe_501_assignsubmission_file_/gradient_checking.ipynb": "perfect",
    })
    roster = write_csv(tmp_path / "r.csv", ["student_id", "moodle_id", "name"], [["u1", "501", "John Doe"]])
    taken = take_in(tmp_path, download, roster)
    text = repr(taken.notes) + "".join(p.student_id + p.message for p in taken.problems)
    assert "\\x1b" in text and "\x1b" not in text and "\x07" not in text


def test_lms_export_neutralises_formulas(tmp_path):
    roster = write_csv(tmp_path / "r.csv", ["student_id", "canvas_id", "name", "section"],
                       [["s1", "11", '=HYPERLINK("http://evil","x")', "@A1"], ["s2", "22", "-2+3", "+1"]])
    rows = [ExerciseRow("s1", "gradient_checking", "test_x", 15, 15, "passed", ""),
            ExerciseRow("s2", "gradient_checking", "test_x", 0, 15, "failed", "")]
    path, _ = write_lms_grades(tmp_path, rows, "canvas", roster, "=cmd|' /C calc'!A0")
    with open(path, newline="", encoding="utf-8") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert not [c for c in cells if c.startswith(("=", "+", "@", "-", "\t", "\r"))]
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in cells and "'-2+3" in cells and "15" in cells


# -- the same attacks graded beside honest neighbours ------------------------------------------

def test_lms_attacks_graded_beside_honest_neighbours(tmp_path):
    download = write_moodle(tmp_path / "d", {
        "John Doe_501_assignsubmission_file_/gradient_checking.ipynb": "perfect",
        "Mary Ann Smith_502_assignsubmission_file_/gradient_checking.ipynb": "bug_backprop_dW2",
        "Mallory Evil_506_assignsubmission_file_John Doe_501_assignsubmission_file_gradient_checking.ipynb":
            "untouched_release",
        "Mary Ann Smith_508_assignsubmission_file_/gradient_checking.ipynb": "untouched_release",
    })
    roster = write_csv(tmp_path / "r.csv", ["student_id", "moodle_id", "name"], [
        ["u1", "501", "John Doe"], ["u2", "502", "Mary Ann Smith"], ["u6", "506", "Mallory Evil"],
        ["u8", "", "Eve Other"]])
    run = grade(download, "gradient_checking", tmp_path / "out", jobs=2, limits=Limits(wall_seconds=20),
                progress=False, roster=roster)
    scores = {r["student_id"]: r for r in read_csv(run.grades_csv)}
    assert scores["u1"]["score"] == "15" and scores["u2"]["score"] == "12"  # the neighbours keep their marks
    assert "u6" not in scores and "u8" not in scores  # the attackers gain nothing and no one's place
    assert scores["moodle_508"]["status"] == "error"  # the name double: refused, with a row of its own
    unfiled = [s for s in scores if s.startswith("(unfiled")]
    assert len(unfiled) == 1 and scores[unfiled[0]]["score"] == "0"
    assert run.notes.get("u1", "") == "" and run.notes.get("u2", "") == ""
