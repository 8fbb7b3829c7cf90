"""The first `./kit` run says what it installs and shows pip's progress, on stderr (issue 23).

The install itself is stood in for: a fake python3 on PATH makes a .venv whose python records
its arguments and prints what pip prints, so the test costs nothing and needs no network."""
import os
import shutil
import stat
import subprocess

from support import ROOT

FAKE_PYTHON = """#!/usr/bin/env bash
echo "$@" >> "$(dirname "$0")/../calls.log"
if [ "$1 $2" = "-m venv" ]; then
    mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
    printf '#!/usr/bin/env bash\\necho "autograder $*"\\n' > "$3/bin/autograder" && chmod +x "$3/bin/autograder"
elif [[ "$*" == *"-e ."* ]]; then
    echo "Collecting numpy"
fi
"""


def test_the_first_run_shows_the_install_as_it_goes(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "kit", course / "kit")
    (course / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "python3").write_text(FAKE_PYTHON)
    (tools / "python3").chmod(stat.S_IRWXU)
    env = dict(os.environ, PATH=f"{tools}:{os.environ['PATH']}")
    result = subprocess.run([str(course / "kit"), "--version"], cwd=course, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "autograder --version\n"  # stdout is the command's alone
    assert "Installing the kit and its dependencies" in result.stderr and "Collecting numpy" in result.stderr
    install = [line for line in (course / ".venv" / "calls.log").read_text().splitlines() if "-e ." in line]
    assert install and "--quiet" not in install[0] and "--progress-bar on" in install[0]
