"""Start the kit's formgrader (server.py) on a graded course folder, OUT, and print its URL last.

Trusted side, for the instructor. The server listens on localhost with a fresh token, passed in
its environment (never on its command line, which any local user can read) and elided from its
log; its log goes to OUT/logs/formgrader.log (mode 0600), and the URL is printed once the server
answers. Started as root, the server runs as OUT's owner, or as the formgrader's own uid when
root owns OUT: that uid is lent OUT's group (OUT itself, closed to other users) and the
gradebook's files (never another folder, never a file a student wrote) for as long as the server
runs, then they are given back. Its Jupyter
settings go in a private config folder (OUT/.formgrader) and its runtime files in a private
temporary folder, so OUT/nbgrader_config.py (written by `grade`) stays as it is.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..nbgrader_env import with_python_bin
from . import unprivileged

#: The uid the server runs as when root starts it on a folder root owns: no account, no files of
#: its own, far from the uids handed to student code (judge/sandbox.py) and from `nobody`.
FORMGRADER_UID = 1_800_000_000
#: How long the server may take to answer after it starts (a loaded machine: generous).
START_SECONDS = 180
LOG = Path("logs") / "formgrader.log"
#: SQLite's files beside a gradebook in write-ahead-log mode.
WAL_FILES = ("-wal", "-shm")


class FormgraderError(Exception):
    """OUT is not a graded course folder, or the server did not start; the message says what to do."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def check_course(out: Path) -> Path:
    out = Path(out).resolve()
    if not (out / "nbgrader_config.py").is_file():
        raise FormgraderError(f"{out} is not a graded course folder (no nbgrader_config.py): "
                              "run `./kit grade SUBMISSIONS --out OUT` first")
    return out


def write_config(out: Path) -> Path:
    """A Jupyter config folder for this server: nbgrader's exchange in OUT/exchange."""
    exchange = out / "exchange"
    exchange.mkdir(exist_ok=True)
    config = out / ".formgrader"
    config.mkdir(exist_ok=True)
    (config / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.Exchange.root = {str(exchange)!r}\n", encoding="utf-8")
    return config


def server_uid(out: Path) -> int | None:
    """The uid to run the server as: None (this process's own) unless this process is root."""
    if os.geteuid() != 0:
        return None
    info = out.stat()
    return info.st_uid if info.st_uid != 0 else FORMGRADER_UID


@contextlib.contextmanager
def lent_folder(out: Path, uid: int | None):
    """Let uid (the formgrader's own) enter OUT while the server runs, OUT being closed to other
    users (`grade` makes it 0700): its group becomes uid's, with read and search, and both are given
    back at the end. Only OUT itself: what lies below is as `grade` wrote it."""
    if uid != FORMGRADER_UID:
        yield
        return
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        group, mode = info.st_gid, stat.S_IMODE(info.st_mode)
        if group == _group(uid):  # left so by a server killed before it could give OUT back
            group, mode = _group(info.st_uid), mode & ~(stat.S_IRGRP | stat.S_IXGRP)
        os.fchown(fd, -1, _group(uid))
        os.fchmod(fd, mode | stat.S_IRGRP | stat.S_IXGRP)
        try:
            yield
        finally:
            os.fchown(fd, -1, group)
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def sqlite_gradebook(out: Path) -> Path | None:
    """OUT's gradebook file, if OUT's config keeps it in SQLite inside OUT (as `grade` writes it)."""
    from sqlalchemy.engine import make_url
    from traitlets.config.loader import PyFileConfigLoader
    config = PyFileConfigLoader("nbgrader_config.py", path=str(out)).load_config()
    url = make_url(str(config.CourseDirectory.get("db_url", "")) or "sqlite://")
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    path = Path(url.database).resolve()
    return path if path.parent == out and path.is_file() and not path.is_symlink() else None


@contextlib.contextmanager
def lent_gradebook(out: Path, uid: int | None):
    """Lend the SQLite gradebook to uid while the server runs (nothing when uid owns OUT already),
    then give it back. The server may not create or delete files in OUT, and SQLite in
    write-ahead-log mode (as `grade` leaves the gradebook) keeps two files beside it
    (`gradebook.db-wal`, `-shm`) while any connection is open, made by the first and removed by
    the last: this process holds a connection open from before the server starts until after it
    ends, so the files exist throughout (lent too) and are removed, by root, at the end."""
    gradebook = sqlite_gradebook(out) if uid == FORMGRADER_UID else None
    if gradebook is None:
        yield
        return
    lent = []
    with contextlib.closing(sqlite3.connect(gradebook)) as holder:
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("SELECT count(*) FROM sqlite_master").fetchall()
        try:
            folder = out.stat()
            for path in (gradebook, *(gradebook.with_name(gradebook.name + end) for end in WAL_FILES)):
                info = path.lstat()
                if info.st_uid == uid:  # left so by a server killed before it gave it back: OUT's owner's
                    lent.append((path, folder.st_uid, _group(folder.st_uid)))
                else:
                    lent.append((path, info.st_uid, info.st_gid))
                os.chown(path, uid, uid, follow_symlinks=False)
            yield
        finally:
            for path, owner, group in lent:
                os.chown(path, owner, group, follow_symlinks=False)


@dataclass
class Server:
    out: Path
    argv: list[str]
    env: dict
    url: str
    uid: int | None


def prepare(out: Path, port: int | None = None, token: str | None = None, host: str = "127.0.0.1") -> Server:
    """The formgrader server for OUT: its command, environment, URL (token included) and uid."""
    out = check_course(out)
    config = write_config(out)
    port = port or free_port(host)
    token = token or secrets.token_urlsafe(24)
    env = with_python_bin()
    env["JUPYTER_CONFIG_DIR"] = str(config)
    env["JUPYTER_TOKEN"] = token  # not on the command line, where any local user could read it
    argv = [sys.executable, "-m", "autograder.formgrader.server", f"--ServerApp.root_dir={out}",
            f"--ServerApp.ip={host}", f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    return Server(out, argv, env, f"http://{host}:{port}/formgrader?token={token}", server_uid(out))


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(url: str) -> bool:
    try:
        _DIRECT.open(url.split("/formgrader")[0] + "/api/status", timeout=5)
    except urllib.error.HTTPError:
        return True  # 403 without the token: it is up
    except OSError:
        return False
    return True


def _group(uid: int) -> int:
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        return uid  # the formgrader's own uid: no account, a group of the same number


def _private_home(uid: int | None) -> str:
    home = tempfile.mkdtemp(prefix="kit-formgrader-")
    if uid is not None:
        os.chown(home, uid, _group(uid))
    return home


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _started(process: subprocess.Popen, url: str) -> bool:
    """Wait until the server answers (True) or has ended or taken too long (False)."""
    deadline = time.monotonic() + START_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        if _answers(url):
            return True
        time.sleep(0.3)
    return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()  # Jupyter stops at once on SIGTERM
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve(out: Path, port: int | None, host: str, say) -> int:
    """Run the formgrader on OUT until Ctrl-C or SIGTERM; say(text) tells the instructor. The exit status."""
    server = prepare(out, port, host=host)
    out, log_path = server.out, server.out / LOG
    log_path.parent.mkdir(exist_ok=True)
    home = _private_home(server.uid)
    env = dict(server.env, HOME=home, JUPYTER_RUNTIME_DIR=f"{home}/runtime", JUPYTER_DATA_DIR=f"{home}/data",
               IPYTHONDIR=f"{home}/ipython", TMPDIR=home)
    closed = {} if server.uid is None else unprivileged.closed_folders(unprivileged.needed_paths(out, Path(home)))
    preexec = unprivileged.become(server.uid, server.uid is not None and _group(server.uid), closed,
                                  Path(home) / "mounts", out)
    stop = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with lent_folder(out, server.uid), lent_gradebook(out, server.uid), \
                open(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600), "ab") as log:
            process = subprocess.Popen(server.argv, env=env, cwd=out, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec)
            try:
                if not _started(process, server.url):
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise FormgraderError(f"the formgrader server did not start; its log ({log_path}) ends:\n{tail}")
                say(f"Formgrader for {out} (its log: {log_path}). Ctrl-C stops it. Open:\n\n    {server.url}\n")
                return process.wait()
            except KeyboardInterrupt:
                return 0
            finally:
                _stop(process)
    finally:
        signal.signal(signal.SIGTERM, stop)
        shutil.rmtree(home, ignore_errors=True)
