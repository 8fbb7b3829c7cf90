"""Regenerate release/<assignment>/ from source/<assignment>/ with nbgrader generate_assignment.

The student-side helpers every assignment shares (autograder/student/*.py) are copied in first,
so each release carries them; `autograder release` also refreshes their copies in source/, so
the instructor notebook runs there as it is (trusted side: runs nbgrader, never student code).
Each release also gets the student's environment file, STUDENT_REQUIREMENTS: what the notebook
and its helper modules import, nothing of the grader.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..nbgrader_env import with_python_bin


#: Student-side modules shared by every assignment; one home, copied into each source and release.
SHARED_HELPERS = Path(__file__).resolve().parent.parent / "student"


def shared_helpers() -> list[Path]:
    return sorted(SHARED_HELPERS.glob("*.py"))


def refresh_shared_helpers(folder: Path) -> list[Path]:
    """Copy the shared helpers into folder where they differ; the ones written."""
    written = []
    for helper in shared_helpers():
        target = folder / helper.name
        if not target.is_file() or target.read_bytes() != helper.read_bytes():
            shutil.copy2(helper, target)
            written.append(target)
    return written


#: What a student installs to practise offline (pip install -r requirements.txt): the packages a
#: released notebook and its helper modules import, and Jupyter to run it; nothing of the grader.
#: tests/course/test_student_release.py holds every release to it.
STUDENT_REQUIREMENTS = ("numpy>=1.24", "matplotlib>=3.7", "jupyter>=1.0")
STUDENT_REQUIREMENTS_FILE = "requirements.txt"


def write_student_requirements(folder: Path) -> Path:
    """Write the student's environment file into a release folder."""
    path = folder / STUDENT_REQUIREMENTS_FILE
    path.write_text("# What this assignment needs on a student's machine, nothing more:\n"
                    "#   python -m venv env && env/bin/pip install -r requirements.txt\n"
                    + "".join(f"{line}\n" for line in STUDENT_REQUIREMENTS), encoding="utf-8")
    return path


class ReleaseError(Exception):
    """nbgrader could not generate the release; the message carries its log."""


def _quiet(message: str) -> None:
    pass


def generate(assignment: str, root: Path, dest: Path | None = None, say=_quiet) -> Path:
    """Run nbgrader generate_assignment for `assignment` of the course at root.

    The gradebook it must write to is a throwaway one, so that releasing never touches a real
    gradebook. With dest, the release is copied there instead of root/release/<assignment>, and
    source/ is left as it is; without, source/<assignment>/ gets the shared helpers too.
    say(line) is told each step as it starts (the CLI prints them: the whole takes a while).
    """
    source = root / "source" / assignment
    if not source.is_dir():
        raise ReleaseError(f"no source folder {source}; create it with the instructor notebook")
    notebooks = ", ".join(sorted(p.name for p in source.glob("*.ipynb"))) or "no notebook"
    say(f"release {assignment}: copying source/{assignment} ({notebooks}) to a scratch course ...")
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        course = Path(tmp)
        shutil.copytree(source, course / "source" / assignment,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        refresh_shared_helpers(course / "source" / assignment)
        cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
               f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url=sqlite:///{course}/gradebook.db"]
        say(f"release {assignment}: nbgrader generate_assignment (removes solutions and hidden tests; "
            "creates a throwaway gradebook) ...")
        proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, env=with_python_bin())
        built = course / "release" / assignment
        if proc.returncode != 0 or not built.is_dir():
            raise ReleaseError(f"nbgrader generate_assignment {assignment} failed:\n{proc.stderr[-3000:]}")
        if dest is None:
            refresh_shared_helpers(source)
        target = dest or (root / "release" / assignment)
        say(f"release {assignment}: writing {target} ...")
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(built, target)
        write_student_requirements(target)
    return target
