"""Start nbgrader's formgrader on a graded course folder (the OUT of `autograder grade`).

Trusted side, for the instructor: a Jupyter server rooted at OUT with nbgrader's server
extensions, on localhost, with a fresh token in the URL it prints (the first page sets the login
cookie, so the formgrader's own API calls and their XSRF header work), `--allow-root` when run as
root, no terminals, and nbgrader's exchange pointed at OUT/exchange, a folder it can write. The
token is passed in the server's environment, never on its command line, which any local user can
read. Its settings go in a private Jupyter config folder (OUT/.formgrader), so
OUT/nbgrader_config.py (written by `grade`) stays as it is.
"""
from __future__ import annotations

import os
import secrets
import socket
import sys
from pathlib import Path

from .nbgrader_env import with_python_bin


class FormgraderError(Exception):
    """OUT is not a graded course folder; the message says what to do."""


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


def command(out: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    args = [sys.executable, "-m", "jupyter_server", f"--ServerApp.root_dir={out}",
            f"--ServerApp.ip={host}", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            "--ServerApp.open_browser=False", "--ServerApp.terminals_enabled=False",
            "--ServerApp.jpserver_extensions={'nbgrader.server_extensions.formgrader': True}"]
    if os.geteuid() == 0:
        args.append("--allow-root")
    return args


def prepare(out: Path, port: int | None = None, token: str | None = None, host: str = "127.0.0.1"):
    """(argv, environment, url) of a formgrader server for OUT."""
    out = check_course(out)
    config = write_config(out)
    port = port or free_port(host)
    token = token or secrets.token_urlsafe(24)
    env = with_python_bin()
    env["JUPYTER_CONFIG_DIR"] = str(config)
    env["JUPYTER_TOKEN"] = token  # not on the command line, where any local user could read it
    url = f"http://{host}:{port}/formgrader?token={token}"
    return command(out, port, host), env, url
