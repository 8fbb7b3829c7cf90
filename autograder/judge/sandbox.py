"""How untrusted code is started: a fresh scratch folder, a clean environment and OS limits.

Used for the judge's child. The limits are POSIX rlimits, which need no privileges: address
space (memory), CPU seconds, file size, core dumps and open files.
"""
from __future__ import annotations

import os
import resource
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


def apply_limits(limits: Limits):
    """A preexec_fn for subprocess: called in the child between fork and exec."""
    def setup():
        os.setsid()  # its own process group, so a timeout kills everything it started
        memory = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        size = limits.file_size_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    return setup


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


def python_command(*args: str) -> list[str]:
    """The interpreter for untrusted code: this one, isolated from user site and PYTHON* vars."""
    return [sys.executable, "-I", *args]
