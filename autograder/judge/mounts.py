"""The mounts /proc/self/mountinfo lists, read one way (trusted side): for the control groups'
hierarchies (cgroup.py) and for the scratch mounts a killed grader left (sandbox.py)."""
from __future__ import annotations

import re


def _unescape(field: str) -> str:
    """A path as mountinfo writes it (space, tab, newline and backslash as octal escapes)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse(mountinfo: str) -> list[tuple[str, str, set[str]]]:
    """(mount point, file system type, its super options) of each mount in mountinfo's text."""
    found = []
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        found.append((_unescape(fields[4]), rest[0], set(rest[2].split(","))))
    return found


def listed() -> list[tuple[str, str, set[str]]]:
    """parse() of this process's /proc/self/mountinfo; empty where it cannot be read."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
            return parse(table.read())
    except OSError:
        return []
