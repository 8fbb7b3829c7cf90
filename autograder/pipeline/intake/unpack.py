"""Copy a submissions folder, or unpack a zip, into a private folder of plain files (trusted side).

Everything after the intake reads this copy, so nothing there can follow a link: a symlink, a
hard link (a file with more than one name), a FIFO, a device or a socket in the submissions is
never read. It is left in the copy as an empty placeholder file of the same name, listed in
`Unpacked.refused` with the reason, so the intake can tell its student why nothing was graded.
Zip members that would land outside the folder, or cannot be written, are skipped
(`Unpacked.skipped`, with the reason).
"""
from __future__ import annotations

import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .notebook_reader import MAX_NOTEBOOK_BYTES
from ...untrusted_text import printable

#: An archive that unpacks to more than this is refused (zip bombs).
MAX_UNPACKED_BYTES = 2 * 1024 * 1024 * 1024
#: Deeper folders than this are not copied (a notebook sits at most three below the top).
MAX_DEPTH = 12
#: A file larger than this is never read (see notebook_reader), so its copy is a sparse file of the
#: same size: the intake can still say how large it was, and the copy takes no disk space.
MAX_COPIED_BYTES = MAX_NOTEBOOK_BYTES
#: More entries than this in one submissions folder is not a class; the rest is refused.
MAX_ENTRIES = 200_000


class UnpackError(Exception):
    """The submissions as a whole cannot be read (a corrupt zip, a zip bomb)."""


@dataclass
class Unpacked:
    root: Path
    refused: dict[Path, str] = field(default_factory=dict)  # placeholder in root -> why it was not copied
    skipped: dict[str, str] = field(default_factory=dict)  # zip member -> why it was not unpacked

    def reason(self, path: Path) -> str:
        """Why path (or a folder above it) was not copied, or ""."""
        path = Path(path)
        for candidate in (path, *path.parents):
            if candidate in self.refused:
                return self.refused[candidate]
        return ""


def _kind(mode: int, links: int) -> str:
    """"" for a plain file or folder, else what the entry is, in the instructor's words."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return ""
    if stat.S_ISREG(mode):
        return f"a hard link (one file with {links} names)" if links > 1 else ""
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device file"


def _refuse(result: Unpacked, placeholder: Path, shown: str, kind: str) -> None:
    placeholder.parent.mkdir(parents=True, exist_ok=True)
    placeholder.write_bytes(b"")
    result.refused[placeholder] = (f"{printable(shown)} is {kind}, not a plain file, so it was neither read nor "
                                   "graded (a link can point at another student's work or the course); hand in "
                                   "a copy of the notebook itself")


def copy_folder(source: Path, dest: Path) -> Unpacked:
    """Copy source's plain files and folders into dest (which must exist); links become placeholders.

    Every entry is opened relative to its folder's descriptor with O_NOFOLLOW, so a folder swapped
    for a link while the copy runs is refused, not followed."""
    result = Unpacked(dest)
    count = 0

    def walk(dir_fd: int, target: Path, shown: str, depth: int) -> None:
        nonlocal count
        with os.scandir(dir_fd) as entries:
            names = sorted(e.name for e in entries)
        for name in names:
            count += 1
            if count > MAX_ENTRIES:
                raise UnpackError(f"more than {MAX_ENTRIES} files below the submissions folder; "
                                  "pass the folder of this class's submissions only")
            here = f"{shown}/{name}" if shown else name
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue  # vanished meanwhile
            kind = _kind(info.st_mode, info.st_nlink)
            if kind:
                _refuse(result, target / name, here, kind)
            elif stat.S_ISDIR(info.st_mode):
                if depth >= MAX_DEPTH:
                    continue
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
                try:
                    (target / name).mkdir()
                    walk(fd, target / name, here, depth + 1)
                finally:
                    os.close(fd)
            else:
                _copy_file(dir_fd, name, target / name, result, here)

    top = os.open(source, os.O_RDONLY | os.O_DIRECTORY)  # the instructor named this folder: it may be a link
    try:
        walk(top, dest, "", 0)
    finally:
        os.close(top)
    return result


def copy_file(source: Path, dest: Path) -> Unpacked:
    """Copy one file the instructor named (a single notebook) into dest, which must exist."""
    result = Unpacked(dest)
    source = Path(source)
    folder = os.open(source.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _copy_file(folder, source.name, dest / source.name, result, source.name)
    finally:
        os.close(folder)
    return result


def _copy_file(dir_fd: int, name: str, target: Path, result: Unpacked, shown: str) -> None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        _refuse(result, target, shown, "a link or special file that cannot be opened")
        return
    with os.fdopen(fd, "rb") as src:
        info = os.fstat(src.fileno())
        kind = _kind(info.st_mode, info.st_nlink)
        if kind:  # changed between the listing and the open
            _refuse(result, target, shown, kind)
            return
        with open(target, "wb") as out:
            if info.st_size > MAX_COPIED_BYTES:
                out.truncate(info.st_size)
            else:
                shutil.copyfileobj(src, out)


def extract_zip(archive: Path, dest: Path) -> Unpacked:
    """Unpack a zip into dest: members outside dest are skipped and listed, link members refused."""
    result = Unpacked(dest)
    try:
        with zipfile.ZipFile(archive) as zf:
            total = 0
            for info in zf.infolist():
                name = PurePosixPath(info.filename.replace("\\", "/"))
                if name.is_absolute() or ".." in name.parts or not name.parts:
                    result.skipped[info.filename] = "would be written outside the folder"
                    continue
                target = dest.joinpath(*name.parts)
                mode = info.external_attr >> 16  # 0 or permissions only: a zip made without Unix file types
                if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    _refuse(result, target, info.filename, _kind(mode, 1) or "a special file")
                    continue
                total += info.file_size
                if total > MAX_UNPACKED_BYTES:
                    raise UnpackError(f"{archive}: unpacks to more than {MAX_UNPACKED_BYTES >> 30} GiB")
                if info.is_dir():
                    try:
                        target.mkdir(parents=True, exist_ok=True)
                    except OSError as exc:
                        result.skipped[info.filename] = f"could not be unpacked ({type(exc).__name__})"
                    continue
                if any(p in result.refused for p in target.parents):
                    continue  # below a member that was refused
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as out:
                        if info.file_size > MAX_COPIED_BYTES:
                            out.truncate(info.file_size)  # never read: see MAX_COPIED_BYTES
                        else:
                            shutil.copyfileobj(src, out)
                except (OSError, zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
                    result.skipped[info.filename] = f"could not be unpacked ({type(exc).__name__})"
    except zipfile.BadZipFile as exc:
        raise UnpackError(f"{archive}: not a readable zip ({exc}); export it again from the LMS") from None
    return result
