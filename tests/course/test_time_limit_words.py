"""The time limit is named the same everywhere an instructor meets it: CPU seconds, with a wall
bound above (--help, the manifests' comments, a new assignment's manifest)."""
import subprocess
import sys

from autograder.course.manifest import TIME_LIMIT_WORDS
from autograder.course.scaffold import MANIFEST_TEXT

from support import ROOT


def comment_above_time_seconds(text: str) -> str:
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("time_seconds"))
    comment = []
    for line in reversed(lines[:at]):
        if not line.startswith("#"):
            break
        comment.insert(0, line)
    return " ".join(comment)


def test_help_and_manifests_say_cpu_seconds_and_the_wall_bound():
    help_text = subprocess.run([sys.executable, "-m", "autograder", "grade", "--help"], capture_output=True,
                               text=True, cwd=ROOT).stdout
    assert "CPU seconds per submission" in " ".join(help_text.split()) and "Wall seconds" not in help_text
    assert TIME_LIMIT_WORDS.startswith("CPU seconds") and "plus a fixed margin" in TIME_LIMIT_WORDS
    for text in [p.read_text(encoding="utf-8") for p in sorted((ROOT / "assignments").glob("*/manifest.toml"))] \
            + [MANIFEST_TEXT]:
        comment = comment_above_time_seconds(text)
        assert "CPU seconds" in comment and "plus a fixed margin" in comment and "wall time and" not in comment
