"""A real PostgreSQL server for the tests: initdb into a temporary folder, start it, stop it at the end.

Trusted test-side code. The server runs as an unprivileged user (postgres refuses root), listens
on a unix socket in its folder (trust) and on 127.0.0.1 at a free port (password required), is
stopped and removed when the session ends, and dies with the test process if that is killed.
Missing binaries fail the tests: no skip in CI.
"""
from __future__ import annotations

import ctypes
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "grader"
_PR_SET_PDEATHSIG = 1


def server_binaries() -> Path:
    """The bin folder of the newest PostgreSQL server installed (Debian's layout, or on PATH)."""
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    if found:
        newest = max(found, key=lambda p: [int(n) for n in re.findall(r"\d+", Path(p).parent.parent.name)] or [0])
        return Path(newest).parent
    on_path = shutil.which("postgres")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    pytest.fail("PostgreSQL server binaries (initdb, postgres) not found: install postgresql "
                "(Debian/Ubuntu: apt-get install postgresql; .ci/run does this)", pytrace=False)


def _server_account() -> pwd.struct_passwd | None:
    """Who runs the server: ourselves unless root, else the Debian `postgres` user, else nobody."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.fail("running as root and there is neither a `postgres` nor a `nobody` user to run PostgreSQL as",
                pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    folder: Path
    port: int
    password: str

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    def url(self, database: str, password: bool = True) -> str:
        """SQLAlchemy URL over TCP, with the password in it unless password=False."""
        secret = f":{self.password}" if password else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"

    def socket_url(self, database: str, password: bool = True) -> str:
        """SQLAlchemy URL over the unix socket (which needs no password, but may be given one)."""
        secret = f":{self.password}" if password else ""
        return f"postgresql://{SUPERUSER}{secret}@/{database}?host={self.socket_dir}&port={self.port}"

    def connect(self, database: str = "postgres"):
        import psycopg
        conn = psycopg.connect(host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname=database, autocommit=True)
        return conn

    def query(self, database: str, sql: str, params=()) -> list[tuple]:
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL (with the password)."""
        self.query("postgres", f'CREATE DATABASE "{name}"')
        return self.url(name)


def _run_as(account, command: list[str], **kwargs) -> subprocess.CompletedProcess:
    if account is not None:
        kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=180, **kwargs)


def start_server() -> tuple[PostgresServer, callable]:
    """initdb and start a server; (server, stop)."""
    binaries = server_binaries()
    account = _server_account()
    folder = Path(tempfile.mkdtemp(prefix="autograder-postgres-"))
    (folder / "socket").mkdir()
    password = secrets.token_urlsafe(16)
    (folder / "pwfile").write_text(password + "\n")
    if account is not None:
        for path in (folder, folder / "socket", folder / "pwfile"):
            os.chown(path, account.pw_uid, account.pw_gid)
    data = folder / "data"
    init = _run_as(account, [str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "--pwfile", str(folder / "pwfile"),
                             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                             "--no-sync"], cwd=folder)
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}", pytrace=False)
    (folder / "pwfile").unlink()

    log = open(folder / "server.log", "ab")

    def die_with_us():  # in the child: if the test process dies without stopping it, the server stops too
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT, 0, 0, 0)

    for _attempt in range(3):  # a free port can be taken by someone else before the server binds it
        port = _free_port()
        command = [str(binaries / "postgres"), "-D", str(data), "-p", str(port), "-k", str(folder / "socket"),
                   "-h", "127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                   "-c", "max_connections=100"]
        extra = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []} if account else {}
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=folder,
                                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
                                preexec_fn=die_with_us, **extra)
        server = PostgresServer(folder, port, password)

        def stop(proc=proc):
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT)  # immediate shutdown: the data is thrown away anyway
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()
            shutil.rmtree(folder, ignore_errors=True)

        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                server.connect().close()
                return server, stop
            except Exception:
                time.sleep(0.1)
        if proc.poll() is None:
            break
    text = (folder / "server.log").read_text(errors="replace")[-3000:]
    stop()
    pytest.fail(f"the PostgreSQL server did not start:\n{text}", pytrace=False)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of our own for the whole session (databases made with create_database)."""
    server, stop = start_server()
    try:
        yield server
    finally:
        stop()
