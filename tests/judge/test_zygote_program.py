"""The program that runs outside the kit (autograder/judge/program/): its parts import nothing from
the kit and the kit imports none of them; one function assembles them, refusing a part that
imports the kit or takes another part's name; what the zygote runs is that program, from a file
of the launcher's own, and `ps` shows a short command line naming it."""
import ast
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from autograder.judge import judge
from autograder.judge.assembly import PROGRAM, ZYGOTE_PARTS, PartError, load_part, program_source

from support import ROOT


def _parts(folder: Path, **sources: str) -> Path:
    for name, source in sources.items():
        (folder / f"{name}.py").write_text(source)
    return folder


@pytest.mark.parametrize("line", ["from autograder.judge import sandbox", "import autograder.grading.results",
                                  "from . import budget", "def later():\n    from ..judge import cgroup"])
def test_a_part_that_imports_the_kit_is_refused(tmp_path, line):
    folder = _parts(tmp_path, first="import os\n", second=f"import json\n{line}\n")
    with pytest.raises(PartError, match="second.py imports"):
        program_source(("first", "second"), folder)


def test_a_name_defined_in_two_parts_is_refused(tmp_path):
    """One program: the later definition would silently replace the earlier one."""
    folder = _parts(tmp_path, first="def _check():\n    pass\n", second="try:\n    _check = 1\nexcept OSError:\n    pass\n")
    with pytest.raises(PartError, match="_check is defined in first.py and in second.py"):
        program_source(("first", "second"), folder)


def test_the_parts_are_joined_in_order_each_named():
    source = program_source()
    starts = [source.index(f"# ---- program/{part}.py ----\n") for part in ZYGOTE_PARTS]
    assert starts == sorted(starts) and starts[0] == 0
    assert sorted(p.stem for p in PROGRAM.glob("*.py")) == sorted(ZYGOTE_PARTS)  # no part left out
    assert not (PROGRAM / "__init__.py").exists()


def test_the_kit_imports_no_part_and_loads_only_the_ones_it_shares():
    """The trusted side reaches program/ through assembly.py alone: no `import` of it anywhere."""
    importers = []
    for path in (ROOT / "autograder").rglob("*.py"):
        if PROGRAM in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, (ast.Import, ast.ImportFrom)) else []
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            if any(PROGRAM.name in f"{module}.{n}".split(".") for n in names):
                importers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert importers == []
    codec = load_part("codec")
    assert codec is load_part("codec") and Path(codec.__file__) == PROGRAM / "codec.py"
    assert judge.codec is codec  # the judge reads replies with the file the child writes them with


def test_the_zygote_runs_the_assembled_program_from_a_file_ps_can_name():
    launcher = judge.ZygoteLauncher()
    try:
        launcher.start()
        deadline = time.monotonic() + 30  # exec closes our pipe before it sets the new arguments
        while not (raw := Path(f"/proc/{launcher.pid}/cmdline").read_bytes()) and time.monotonic() < deadline:
            time.sleep(0.01)
        argv = [arg.decode() for arg in raw.rstrip(b"\0").split(b"\0")]
        program = Path(argv[2])
        assert argv[:2] == [sys.executable, "-I"] and all(arg.isdigit() for arg in argv[3:]), argv
        assert program == launcher.home / judge.ZYGOTE_FILE
        assert program.parent.name.startswith(judge.ZYGOTE_FOLDER_PREFIX)
        assert len(" ".join(argv[1:])) < 120 and "\n" not in " ".join(argv)  # what `ps -ef` shows
        assert program.read_text() == judge.ZYGOTE_PROGRAM == program_source()
        for path, mode in ((program.parent, 0o700), (program, 0o600)):  # nobody else writes or names it
            info = os.lstat(path)
            assert info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) == mode, path
    finally:
        launcher.close()
    assert not program.parent.exists()


def test_a_zygote_that_fails_to_start_removes_its_own_folder(tmp_path):
    """Whatever ends the zygote short of SIGKILL (here, a control socket that is not one) takes its
    folder with it: nobody else would remove it once its launcher is gone."""
    import subprocess
    home = tmp_path / "gradcheck-zygote-1-failed"
    home.mkdir()
    program = home / "zygote.py"
    program.write_text(program_source(ZYGOTE_PARTS))
    done = subprocess.run([sys.executable, "-I", str(program), "999"], cwd=home,
                          env={"HOME": str(home), "MPLCONFIGDIR": str(home / ".matplotlib")},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "Bad file descriptor" in done.stderr, done.stderr[-2000:]
    assert not home.exists(), "a zygote that failed at start left its folder"
