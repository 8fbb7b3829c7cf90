"""Confinement of untrusted code, applied by the process to itself before it runs any.

Self-contained (no kit imports): the zygote runs it in each child it forks, and the kernel
launcher runs it before it becomes the kernel. Limits are POSIX rlimits, which need no
privileges: address space, CPU seconds, file size, core dumps, open files, processes.
"""
import os
import resource


def _limit(which, value):
    try:
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass


def confine(limits, scratch, hide=()):
    """Apply the limits in `limits` (a dict) to this process; scratch is its working folder."""
    memory = int(limits.get("memory_mb", 1024)) * 1024 * 1024
    _limit(resource.RLIMIT_AS, memory)
    cpu = int(limits.get("cpu_seconds", 300))
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    except (ValueError, OSError):
        pass
    _limit(resource.RLIMIT_FSIZE, int(limits.get("file_size_mb", 16)) * 1024 * 1024)
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_NOFILE, int(limits.get("open_files", 256)))
