"""How untrusted code is started: a fresh scratch folder, a clean environment, what it must not see.

Used for the judge's child; the child confines itself with confine.py.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Environment variables passed through to untrusted code (OpenBLAS needs these on some CPUs).
PASSTHROUGH_ENV = ("PATH", "LANG", "LC_ALL", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TZ")


@dataclass(frozen=True)
class Limits:
    """Resources one submission's untrusted process may use."""
    wall_seconds: float = 120.0
    memory_mb: int = 1024
    file_size_mb: int = 16
    open_files: int = 256

    @property
    def cpu_seconds(self) -> int:
        return int(self.wall_seconds) + 1


def clean_env(home: Path) -> dict:
    env = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ}
    env.update(HOME=str(home), TMPDIR=str(home), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1",
               PYTHONHASHSEED="0", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLCONFIGDIR=str(home / ".matplotlib"))
    return env


class Scratch:
    """A fresh working folder for one untrusted process, removed afterwards."""

    def __init__(self, helpers: Path | None = None, prefix: str = "judge-"):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        if helpers is not None and helpers.is_dir():
            for item in helpers.iterdir():
                if item.suffix == ".py" and item.is_file():
                    shutil.copy2(item, self.path / item.name)

    def __enter__(self) -> "Scratch":
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def needed_paths() -> list[str]:
    """Folders untrusted code must be able to read: the interpreter, its stdlib and packages."""
    import site
    import numpy
    paths = [sys.prefix, sys.base_prefix, str(Path(numpy.__file__).parent), *site.getsitepackages()]
    return sorted({str(Path(p).resolve()) for p in paths if Path(p).exists()})


def _needed(path: Path) -> bool:
    """True for a path that holds (or is inside) something untrusted code needs to read."""
    path = path.resolve()
    return any(path == Path(n) or path in Path(n).parents or Path(n) in path.parents
               for n in needed_paths())


def hidden_paths(extra=()) -> list[str]:
    """What untrusted code must not see: the kit's package, the course it belongs to, and extra
    (the grading run's output folder with its gradebook and every student's files)."""
    kit = Path(__file__).resolve().parent.parent
    paths = [kit]
    course = kit.parent
    if (course / "assignments").is_dir() and (course / "source").is_dir():
        paths += sorted(course.iterdir())
    paths += [Path(p) for p in extra]
    return sorted({str(p.resolve()) for p in paths if p.exists() and not _needed(p)})


def python_command(*args: str) -> list[str]:
    """The interpreter for untrusted code: this one, isolated from user site and PYTHON* vars."""
    return [sys.executable, "-I", *args]


def isolation_in_force(limits: Limits | None = None) -> list[str]:
    """The confinement measures a child actually gets on this machine (run one and ask it)."""
    import json
    import subprocess
    confine_source = (Path(__file__).parent / "confine.py").read_text()
    limits = limits or Limits()
    spec = {"memory_mb": limits.memory_mb, "cpu_seconds": limits.cpu_seconds,
            "file_size_mb": limits.file_size_mb, "open_files": limits.open_files}
    program = confine_source + (
        "\nimport json, sys\nspec = json.loads(sys.argv[1])\n"
        "print(json.dumps(confine(spec['limits'], spec['scratch'], spec['hide'], spec['needed'])))\n")
    with Scratch() as scratch:
        args = json.dumps({"limits": spec, "scratch": str(scratch.path), "hide": hidden_paths(),
                           "needed": needed_paths()})
        proc = subprocess.run(python_command("-c", program, args), capture_output=True, text=True,
                              cwd=scratch.path, env=clean_env(scratch.path), timeout=60)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return ["unknown: the probe failed (" + proc.stderr.strip()[-200:] + ")"]
