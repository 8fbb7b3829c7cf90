"""nbgrader runs the `alembic` tool from PATH to create a gradebook; it lives beside this python."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def with_python_bin(env=None) -> dict:
    """A copy of env (default: os.environ) whose PATH starts with this interpreter's bin folder."""
    env = dict(os.environ if env is None else env)
    bin_dir = str(Path(sys.executable).parent)
    path = env.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        env["PATH"] = os.pathsep.join([bin_dir, path]) if path else bin_dir
    return env
