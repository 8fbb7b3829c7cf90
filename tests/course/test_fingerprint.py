"""Digests of what decides a verdict: the kit, an assignment's files and the course secret."""
import shutil

from autograder.course import fingerprint
from autograder.course.fingerprint import Grader
from autograder.grading.secret import SECRET_FILE

from support import ROOT


def _course(tmp_path, secret: str):
    course = tmp_path / "course"
    shutil.copytree(ROOT / "assignments" / "gradient_checking", course / "assignments" / "gradient_checking",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (course / SECRET_FILE).write_text(secret + "\n")
    return course


def test_the_secret_digest_tells_secrets_apart_and_holds_nothing_of_them(tmp_path):
    one, other = "a" * 64, "b" * 64
    first = _course(tmp_path / "1", one)
    assert fingerprint.secret_digest(first) == fingerprint.secret_digest(_course(tmp_path / "2", one))
    assert fingerprint.secret_digest(first) != fingerprint.secret_digest(_course(tmp_path / "3", other))
    assert one[:16] not in fingerprint.secret_digest(first)


def test_the_assignment_digest_follows_its_files_not_their_caches(tmp_path):
    course = _course(tmp_path, "c" * 64)
    before = fingerprint.assignment_digest("gradient_checking", course)
    assert before == fingerprint.assignment_digest("gradient_checking", ROOT)
    cache = course / "assignments" / "gradient_checking" / "grader" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "checks.cpython-311.pyc").write_bytes(b"\0")
    assert fingerprint.assignment_digest("gradient_checking", course) == before
    checks = course / "assignments" / "gradient_checking" / "grader" / "checks.py"
    checks.write_text(checks.read_text() + "\n# a changed grader\n")
    assert fingerprint.assignment_digest("gradient_checking", course) != before


def test_a_grader_names_each_difference_in_words_an_instructor_acts_on():
    run = Grader("0.1.0+aaaa", "1111", "s1")
    assert run.differences(run, "hw") == []
    words = run.differences(Grader("0.1.0+bbbb", "2222", "s2"), "hw")
    assert len(words) == 3
    assert "0.1.0+bbbb" in words[0] and "0.1.0+aaaa" in words[0]
    assert "assignments/hw/" in words[1] and ".autograder-secret" in words[2]


def test_the_kits_code_is_its_python_modules_and_its_version_every_file(tmp_path, monkeypatch):
    """A worker installed from a wheel (no Gradescope scripts) grades with the same code as a checkout."""
    package = tmp_path / "autograder"
    shutil.copytree(ROOT / "autograder", package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "PACKAGE", package)
    code, version = fingerprint.kit_code(), fingerprint.kit_version()
    (package / "gradescope" / "run_autograder").unlink()
    assert fingerprint.kit_code() == code and fingerprint.kit_version() != version
    (package / "judge" / "sandbox.py").write_text((package / "judge" / "sandbox.py").read_text() + "\n")
    assert fingerprint.kit_code() != code
