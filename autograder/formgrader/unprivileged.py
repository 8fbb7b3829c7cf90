"""Become an unprivileged uid in a forked child (the formgrader server) that still reaches the
interpreter, the kit and OUT.

Trusted side, run as root in the child between fork and exec. An interpreter or a course kept in
root's home (/root, mode 0700) cannot be reached by another uid; rather than opening root's
home, the child gets a mount namespace of its own in which each such folder is a fresh, empty
tmpfs with only the needed paths bound back into it (root's other files are absent), then drops
every group and becomes the uid. Nothing changes for any other process.
"""
from __future__ import annotations

import os
import signal
import stat
import sys
from pathlib import Path

from ..judge.assembly import load_part

confine = load_part("confine")  # the sandbox's libc calls: one copy, the program's own

_MNT_DETACH = 2
_PR_SET_PDEATHSIG = 1


def needed_paths(*extra: Path) -> list[Path]:
    """What the server must reach: the interpreter and its standard library, the kit's venv and
    source, and the extra paths (OUT)."""
    import autograder
    paths = [Path(sys.executable).parent, Path(sys.executable).resolve().parent, Path(sys.base_prefix),
             Path(sys.prefix), Path(autograder.__file__).parent, *extra]
    return sorted({p.resolve() for p in paths})


def closed_folders(paths: list[Path]) -> dict[Path, set[Path]]:
    """{folder on the way to a needed path that others cannot pass through: its children on the way}."""
    closed: dict[Path, set[Path]] = {}
    for path in paths:
        for parent in path.parents:
            if not parent.stat().st_mode & stat.S_IXOTH:
                closed.setdefault(parent, set()).add(parent / path.relative_to(parent).parts[0])
    return closed


def open_closed_folders(closed: dict[Path, set[Path]], staging: Path) -> None:
    """In a new mount namespace, replace each closed folder by a tmpfs (0755) holding only its needed
    children, outer folders first (sorted paths: a folder comes before what is inside it)."""
    libc = confine.system_calls()
    confine.checked(libc.unshare(confine.CLONE_NEWNS), "unshare")
    confine.mount_on(libc, None, "/", None, confine.MS_REC | confine.MS_PRIVATE)
    staging.mkdir(exist_ok=True)
    for n, (folder, children) in enumerate(sorted(closed.items())):
        kept = []
        for m, child in enumerate(sorted(children)):
            hold = staging / f"{n}-{m}"
            hold.mkdir() if child.is_dir() else hold.touch()
            confine.mount_on(libc, child, hold, None, confine.MS_BIND | confine.MS_REC)
            kept.append((child, hold))
        confine.mount_on(libc, "tmpfs", folder, "tmpfs", confine.MS_NOSUID | confine.MS_NODEV, "mode=0755,size=64k")
        for child, hold in kept:
            child.mkdir() if hold.is_dir() else child.touch()
            confine.mount_on(libc, hold, child, None, confine.MS_BIND | confine.MS_REC)
            confine.checked(libc.umount2(str(hold).encode(), _MNT_DETACH), f"umount {hold}")


def become(uid: int | None, gid: int, closed: dict[Path, set[Path]], staging: Path, cwd: Path):
    """A preexec function for subprocess: reach the needed paths, then be uid:gid with no other
    group (uid None: stay as is); either way, end when the process that started it ends."""
    def preexec():
        if uid is not None:
            if closed:
                open_closed_folders(closed, staging)
            os.chdir(cwd)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        # After the uid change, which clears it: SIGTERM when the launcher is gone, however it went.
        confine.checked(confine.system_calls().prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0), "prctl")
    return preexec
