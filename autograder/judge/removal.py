"""Removing a folder a child wrote, whatever it made of it (trusted side).

Where a child had no mount namespace of its own, what it wrote lies on the host's disk, and the
trusted side removes it afterwards. Removal never fails half-way: it walks the tree without
recursion (any depth: a chain of 100,000 folders), holding one folder open at a time and
climbing back through ".." only after checking it reaches the folder it came from; it never
follows a link (symlinks, FIFOs and devices are unlinked, never opened), never leaves its file
system (another mount is left alone), and it gives the folders it may not enter back to their
owner (a folder the child made mode 000, as its owner or as root).
"""
from __future__ import annotations

import errno
import os
import stat

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _enter(parent: int, name: str) -> int:
    """Open the folder `name` in `parent` (not a link), made enterable and writable by its owner
    first when it is not (as root every folder is)."""
    try:
        fd = os.open(name, _DIRECTORY, dir_fd=parent)
    except PermissionError:
        handle = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            os.chmod(f"/proc/self/fd/{handle}", 0o700)  # the folder itself: O_PATH never follows a link
        finally:
            os.close(handle)
        fd = os.open(name, _DIRECTORY, dir_fd=parent)
    if os.geteuid() != 0 and os.fstat(fd).st_mode & 0o700 != 0o700:
        os.fchmod(fd, 0o700)  # its owner may always; its entries can then be removed
    return fd


def _empty_one_level(fd: int, device: int) -> str | None:
    """Remove every entry of the folder fd that is not a non-empty folder; the name of the first
    non-empty folder on the same file system found (to descend into), else None."""
    with os.scandir(fd) as entries:
        for entry in entries:
            try:
                if not entry.is_dir(follow_symlinks=False):
                    os.unlink(entry.name, dir_fd=fd)
                    continue
                if entry.stat(follow_symlinks=False).st_dev != device:
                    continue  # a mount point: not ours to empty
                os.rmdir(entry.name, dir_fd=fd)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.EACCES, errno.EPERM):
                    return entry.name
                raise
    return None


def remove_tree(parent: int, name: str) -> None:
    """Remove `name` in the folder `parent` (an fd) and everything below it; raises OSError when
    something could not be removed (what is left is then at most a partial tree)."""
    try:
        top = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(top.st_mode):
        os.unlink(name, dir_fd=parent)
        return
    names: list[str] = []            # the path from `name` down to the current folder
    identities = [_identity(os.fstat(parent))]  # of each folder on the way down, outermost first
    current = _enter(parent, name)
    identities.append(_identity(os.fstat(current)))
    on_the_way = set(identities)
    names.append(name)
    try:
        while True:
            below = _empty_one_level(current, top.st_dev)
            if below is not None:
                child = _enter(current, below)
                os.close(current)
                current = child
                if _identity(os.fstat(current)) in on_the_way:  # cannot be without links; never loop
                    raise OSError(errno.ELOOP, "a folder met twice", below)
                names.append(below)
                identities.append(_identity(os.fstat(current)))
                on_the_way.add(identities[-1])
                continue
            # `current` is empty: climb to its parent and remove it there
            done = names.pop()
            on_the_way.discard(identities.pop())
            if not names:
                os.close(current)
                current = -1
                os.rmdir(done, dir_fd=parent)
                return
            up = os.open("..", _DIRECTORY, dir_fd=current)
            os.close(current)
            current = up
            if _identity(os.fstat(current)) != identities[-1]:
                raise OSError(errno.ESTALE, "a folder was moved during its removal", done)
            os.rmdir(done, dir_fd=current)
    finally:
        if current >= 0:
            os.close(current)
