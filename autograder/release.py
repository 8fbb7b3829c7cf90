"""Regenerate release/<assignment>/ from source/<assignment>/ with nbgrader generate_assignment."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .nbgrader_env import with_python_bin


class ReleaseError(Exception):
    """nbgrader could not generate the release; the message carries its log."""


def _quiet(message: str) -> None:
    pass


def generate(assignment: str, root: Path, dest: Path | None = None, say=_quiet) -> Path:
    """Run nbgrader generate_assignment for `assignment` of the course at root.

    The gradebook it must write to is a throwaway one, so that releasing never touches a real
    gradebook. With dest, the release is copied there instead of root/release/<assignment>.
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
        cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
               f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url=sqlite:///{course}/gradebook.db"]
        say(f"release {assignment}: nbgrader generate_assignment (removes solutions and hidden tests; "
            "creates a throwaway gradebook) ...")
        proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, env=with_python_bin())
        built = course / "release" / assignment
        if proc.returncode != 0 or not built.is_dir():
            raise ReleaseError(f"nbgrader generate_assignment {assignment} failed:\n{proc.stderr[-3000:]}")
        target = dest or (root / "release" / assignment)
        say(f"release {assignment}: writing {target} ...")
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(built, target)
    return target
