"""`./kit feedback-bundle OUT`: a zip per student holding their page alone, and a Moodle
feedback-files zip whose names Moodle's importer files under the right participant."""
import json
import subprocess
import sys
import zipfile

from support import ROOT

ASSIGNMENT = "gradient_checking"


def moodle_participant(member: str) -> tuple[int, str, str] | None:
    """(participant id, plugin, file name) as Moodle's assignfeedback_file_zip_importer reads a
    member's path (is_valid_filename_for_import: each path part split on "_" at most 5 ways)."""
    parts = member.split("/")
    while parts:
        info = parts.pop(0).split("_", 4)
        if len(info) < 4 or not info[1].isdigit():
            continue
        rest = info[4] if len(info) == 5 else ""
        return int(info[1]), f"{info[2]}_{info[3]}", "/".join([rest, *parts]).lstrip("/")
    return None


def kit(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True)


def test_each_student_gets_their_page_and_moodle_gets_its_zip(tmp_path):
    out = tmp_path / "out"
    for student in ("ada", "moodle_777", "ben"):
        page = out / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        page.parent.mkdir(parents=True)
        page.write_text(f"<html>page of {student}</html>")
        (page.parent / "gc_utils.py").write_text("# nbgrader copies the helpers beside the page")
    (out / "intake").mkdir()
    (out / "intake" / f"{ASSIGNMENT}.json").write_text(json.dumps(
        {"moodle_777": "Cy Young_777_assignsubmission_file_/gradient_checking.ipynb",
         "ben": "Mallory_666_assignsubmission_file_.ipynb"}))  # a name ben chose: never trusted
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,moodle_id,name\nada,501,Ada_Lovelace\n")

    result = kit("feedback-bundle", str(out), "--roster", str(roster))
    assert result.returncode == 0, result.stderr
    bundle = out / "feedback-bundle" / ASSIGNMENT
    for student in ("ada", "moodle_777", "ben"):
        with zipfile.ZipFile(bundle / "students" / f"{student}.zip") as zf:
            assert zf.namelist() == [f"{ASSIGNMENT}/{ASSIGNMENT}.html"]
            assert zf.read(zf.namelist()[0]).decode() == f"<html>page of {student}</html>"
    with zipfile.ZipFile(bundle / "moodle-feedback-files.zip") as zf:
        filed = {moodle_participant(n): zf.read(n).decode() for n in zf.namelist()}
    assert filed == {
        (501, "assignfeedback_file", f"{ASSIGNMENT}-feedback.html"): "<html>page of ada</html>",
        (777, "assignfeedback_file", f"{ASSIGNMENT}-feedback.html"): "<html>page of moodle_777</html>",
    }
    assert "Ada Lovelace_501_assignfeedback_file_/" in "".join(zipfile.ZipFile(bundle / "moodle-feedback-files.zip")
                                                              .namelist())
    assert "not Moodle participants" in result.stdout and "ben" in result.stdout


def test_an_out_without_feedback_is_refused_with_what_to_run(tmp_path):
    result = kit("feedback-bundle", str(tmp_path))
    assert result.returncode != 0 and "grade a class into" in result.stderr
