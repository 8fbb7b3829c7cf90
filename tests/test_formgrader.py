"""`autograder formgrader OUT` refuses a folder that was not graded. The formgrader itself, in a
real browser (the judge's scores listed, a manual grade and a comment saved, the token kept off
the command line), is driven by the instructor's path in tests/test_instructor_path.py."""
from __future__ import annotations

import subprocess
import sys


def test_formgrader_refuses_a_folder_that_was_not_graded(tmp_path):
    result = subprocess.run([sys.executable, "-m", "autograder", "formgrader", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "run `./kit grade" in result.stderr
