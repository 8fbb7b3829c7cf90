"""Every file handed in is accounted for, under a student id its name gives (docs/instructor.md,
"Handing in: names and files"): a person's name, a browser's re-upload, a file that is not a
notebook, two names for one student, a single notebook passed as the class.
"""
from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import pytest

from autograder.pipeline.intake.intake import check_submissions, take_in
from autograder.pipeline.intake.problems import IntakeError
from autograder.pipeline.intake.submission_names import kind_of, student_of_file

from support import ROOT

SAMPLES = ROOT / "samples" / "gradient_checking"
NOTEBOOK = "gradient_checking"


@pytest.mark.parametrize("stem, student, upload", [
    ("Alice Smith", "alice_smith", 0),
    ("O'Brien, Seán", "o_brien_sean", 0),
    ("bob_gradient_checking", "bob", 0),
    ("bob_gradient_checking (1)", "bob", 1),
    ("bob_gradient_checking(12)", "bob", 12),
    ("Bob", "Bob", 0),  # already an id: kept exactly
    ("gradient_checking", "gradient_checking", 0),  # nothing left once the notebook name is dropped
    ("mallory\\..\\evil", "mallory\\..\\evil", 0),  # not guessed at: refused by the intake
    ("=1+2", "=1+2", 0),
    ("rtl\u202egpj", "rtl\u202egpj", 0),
    ("Иван", "Иван", 0),  # no ASCII form: not guessed at
])
def test_a_name_maps_to_one_student_id(stem, student, upload):
    assert student_of_file(stem, NOTEBOOK) == (student, upload)


def test_kinds_of_files_are_named_for_the_instructor():
    assert kind_of("helper.py") == "a Python file"
    assert kind_of("answers.TXT") == "a text file"
    assert kind_of("x.rar") == "a .rar file"


@pytest.fixture
def course(tmp_path):
    course = tmp_path / "course"
    (course / "release").mkdir(parents=True)
    shutil.copytree(ROOT / "release" / NOTEBOOK, course / "release" / NOTEBOOK)
    return course


def test_every_file_of_a_real_class_is_accounted_for(tmp_path, course):
    perfect, buggy = (SAMPLES / "perfect.ipynb").read_bytes(), (SAMPLES / "bug_backprop_dW2.ipynb").read_bytes()
    hand_in = tmp_path / "class"
    hand_in.mkdir()
    (hand_in / "Alice Smith.ipynb").write_bytes(perfect)
    (hand_in / "bob_gradient_checking.ipynb").write_bytes(buggy)
    (hand_in / "bob_gradient_checking (1).ipynb").write_bytes(perfect)  # the re-upload wins
    (hand_in / "bob.py").write_text("x = 1\n")
    (hand_in / "carol.py").write_text("def forward_propagation(x, theta):\n    return theta * x\n")
    (hand_in / "dan" / "gradient_checking").mkdir(parents=True)
    (hand_in / "dan" / "gradient_checking" / "notes.txt").write_text("sorry")
    (hand_in / "Erin Lee.ipynb").write_bytes(perfect)
    (hand_in / "erin_lee.ipynb").write_bytes(buggy)  # the same id twice: refused, not guessed
    (hand_in / ".gitignore").write_text("*.pyc\n")

    taken = take_in(hand_in, NOTEBOOK, NOTEBOOK, course)
    problems = {p.student_id: p for p in taken.problems}

    assert sorted(taken.students) == ["alice_smith", "bob"]
    assert sorted(problems) == ["carol", "dan", "erin_lee"]
    assert taken.sources["alice_smith"] == "Alice Smith.ipynb"
    assert taken.sources["bob"] == "bob_gradient_checking (1).ipynb"
    graded_bob = (course / "submitted" / "bob" / NOTEBOOK / f"{NOTEBOOK}.ipynb").read_text(encoding="utf-8")
    assert "np.dot(dZ2, A1.T)" in graded_bob and "A1.T) * 2" not in graded_bob  # the re-upload, not the first
    assert "latest of 2 uploads" in taken.notes["bob"] and "bob_gradient_checking.ipynb" in taken.notes["bob"]
    assert "bob.py (not a notebook; not graded)" in taken.notes["bob"]
    assert problems["carol"].status == "error"
    assert problems["carol"].message.startswith("carol.py is a Python file, not a notebook")
    assert "hand in gradient_checking.ipynb" in problems["carol"].message
    assert taken.sources["carol"] == "carol.py"
    assert problems["dan"].status == "error" and "notes.txt but no notebook" in problems["dan"].message
    assert "two submissions for erin_lee: Erin Lee.ipynb and erin_lee.ipynb" in problems["erin_lee"].message
    assert not (course / "submitted" / "erin_lee").exists()


def test_a_single_notebook_is_a_class_of_one(tmp_path, course):
    single = tmp_path / "Alice Smith.ipynb"
    shutil.copyfile(SAMPLES / "perfect.ipynb", single)
    taken = take_in(single, NOTEBOOK, NOTEBOOK, course)
    assert list(taken.students) == ["alice_smith"] and not taken.problems


def test_a_file_that_is_neither_folder_zip_nor_notebook_is_refused_before_out_exists(tmp_path):
    handed = tmp_path / "grades.pdf"
    handed.write_bytes(b"%PDF-1.4")
    with pytest.raises(IntakeError, match="is a PDF, not a folder, a .zip or a notebook"):
        check_submissions(handed)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", str(handed), "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0 and "is a PDF" in result.stderr
    assert not out.exists()
