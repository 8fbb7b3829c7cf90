"""The installed command exits as soon as its work is done (no interpreter teardown), with the
status click gave and everything it wrote flushed, on a pipe as on a terminal."""
from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

from support import ROOT


def autograder(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_the_console_script_is_the_fast_exit():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "autograder"]
    assert script.value == "autograder.cli:run"


def test_status_and_output_survive_the_fast_exit(tmp_path):
    done = autograder("--version")
    assert done.returncode == 0 and "version" in done.stdout
    usage = autograder("grade", "--jobs", "0")
    assert usage.returncode == 2 and "--jobs" in usage.stderr
    missing = autograder("grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert missing.returncode == 1
    assert f"{tmp_path / 'nowhere'} does not exist" in missing.stderr
    assert "Starting" not in missing.stderr and not (tmp_path / "out").exists()  # said before any set-up
    listed = autograder("--help")
    assert listed.returncode == 0 and listed.stdout.rstrip().endswith("./kit nbgrader export")
