"""A Jupyter kernel manager that starts the student's kernel under OS limits.

nbgrader's Execute step (an nbclient NotebookClient) takes this class as its
`kernel_manager_class`; the kernel command is wrapped so the kernel process gets rlimits on
memory, CPU time, file size and core dumps before it runs any student code.
"""
from __future__ import annotations

import json
import sys

from jupyter_client.manager import AsyncKernelManager
from traitlets import Float, Integer

# Runs before the kernel: set the limits, then become the kernel (exec keeps the pid).
_LIMITS_BOOTSTRAP = """
import json, os, resource, sys
limits = json.loads(sys.argv[1])
memory = limits["memory_mb"] * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1))
size = limits["file_size_mb"] * 1024 * 1024
resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
os.execv(sys.argv[2], sys.argv[2:])
"""


class LimitedKernelManager(AsyncKernelManager):
    """AsyncKernelManager whose kernel runs under memory, CPU and file-size limits."""

    memory_mb = Integer(1024, help="Address-space limit of the kernel, in MiB.").tag(config=True)
    cpu_seconds = Float(240, help="CPU-time limit of the kernel, in seconds.").tag(config=True)
    file_size_mb = Integer(16, help="Largest file the kernel may write, in MiB.").tag(config=True)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if cmd and cmd[0] in ("python", "python3"):
            cmd[0] = sys.executable
        limits = {"memory_mb": int(self.memory_mb), "cpu_seconds": int(self.cpu_seconds),
                  "file_size_mb": int(self.file_size_mb)}
        return [sys.executable, "-c", _LIMITS_BOOTSTRAP, json.dumps(limits), *cmd]
