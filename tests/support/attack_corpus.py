"""Build the tamper-attack and fault corpora (tests/data/attacks.toml, tests/data/faults.toml).

Every attack is a demo sample (samples/gradient_checking/<base>.ipynb) with one change, written as
data: code appended to a solution cell, code at the start of a function's body, a solution cell
replaced, a new cell (with forged nbgrader metadata, if any), a test cell edited, deleted or
given other metadata, or the notebook's own metadata changed. Code may name the places a
well-informed attacker would aim at; the placeholders are filled in at build time:

    @ROOT@         the kit's repository (the course: source/, release/, autograder/)
    @OUT@          the grading run's output folder (gradebook, verdicts, feedback)
    @SUBMISSIONS@  the folder of submissions handed to grade()
    @STUDENT@      this submission's student id
    @TESTPID@      the pid of the test process (so an attack can aim at its own batch only)
    @TMPMARK@      a file name under /tmp an attack tries to create (it must never appear)
    @CLASSIC_GRADIENTS@  the correct gradients of the notebook's visible test case, as literals
    @PERFECT:<function>@ the perfect sample's solution cell for <function> (correct code to smuggle)
    @PERFECT_LITERAL:<function>@  the same, as a Python string literal (to exec it inside a body)
    @CANARY@       a root-owned file outside every sandbox the trusted side must never write to
    @KITCOPY@      a world-readable copy of the kit's package elsewhere on disk (another checkout)
    @ROOTCANARY@, @SRVCANARY@  files in /root and in /srv the child must not read
    @SHMKEY@       a SysV IPC key the batch's attack uses (it must not survive the batch)
    @LISTENPORT@, @LISTENUNIX@  a TCP port on 127.0.0.1 and an abstract unix socket name the
                   test listens on (no child may connect to them)

Faults are files (or folders) in a submissions folder, made by a builder named in the row.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from autograder.course import notebook

from support import DATA, ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SAMPLES = ROOT / "samples" / "gradient_checking"
POINTS = notebook.points(ROOT / "source" / "gradient_checking" / "gradient_checking.ipynb")
EXERCISES = list(POINTS)
#: The grades.csv totals of the honest bases, read from the source notebook's points.
HONEST_TOTALS = {"perfect": f"{sum(POINTS.values()):g}",
                 "bug_backprop_dW2": f"{sum(POINTS.values()) - POINTS['test_backward_propagation_n']:g}"}
MAX_SCORE = HONEST_TOTALS["perfect"]


def load_table(name: str) -> dict:
    return tomllib.loads((DATA / name).read_text(encoding="utf-8"))


def expected_statuses(row: dict) -> dict[str, str]:
    """{exercise: status} for a row: its `expect` table ("all" for every exercise), else passed."""
    table = row.get("expect", {})
    default = table.get("all", "passed")
    return {exercise: table.get(exercise, default) for exercise in EXERCISES}


# -- notebooks --------------------------------------------------------------------------------

def load_sample(name: str) -> nbformat.NotebookNode:
    return nbformat.read(SAMPLES / f"{name}.ipynb", as_version=4)


def find_cell(nb, grade_id: str) -> int:
    for index, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return index
    raise KeyError(f"no cell with grade_id {grade_id!r}")


def insert_in_body(source: str, code: str) -> str:
    """`source` (a cell defining one function with a docstring) with code run first in its body."""
    head, _, rest = source.partition('    """\n')
    doc_end = rest.index('    """\n') + len('    """\n')
    return head + '    """\n' + rest[:doc_end] + "".join(
        "    " + line + "\n" for line in code.splitlines()) + rest[doc_end:]


def _position(nb, where: str) -> int:
    if where == "end":
        return len(nb.cells)
    side, _, grade_id = where.partition(":")
    index = find_cell(nb, grade_id)
    return index + 1 if side == "after" else index


def fill(text: str, context: dict) -> str:
    """text with the placeholders filled in; @PERFECT:<function>@ is the perfect sample's cell."""
    for key, value in context.items():
        text = text.replace(f"@{key}@", str(value))
    text = re.sub(r"@PERFECT_LITERAL:(\w+)@", lambda m: repr(perfect_source(m.group(1))), text)
    return re.sub(r"@PERFECT:(\w+)@", lambda m: perfect_source(m.group(1)), text)


def classic_gradients_literal() -> str:
    """The correct gradients of the notebook's visible test case, as a Python dict literal."""
    import numpy as np
    from autograder.course import graders
    reference = graders.module("gradient_checking", "reference")
    sys.path.insert(0, str(ROOT / "source" / "gradient_checking"))
    try:
        from gc_utils import gradient_check_n_test_case
    finally:
        sys.path.pop(0)
    X, Y, parameters = gradient_check_n_test_case()
    _, cache = reference.forward_propagation_n(X, Y, parameters)
    grads = reference.backward_propagation_n(X, Y, cache)
    items = ", ".join(f"{k!r}: np.array({np.asarray(v).tolist()!r})" for k, v in grads.items())
    return "{" + items + "}"


def build_attack(row: dict, context: dict) -> nbformat.NotebookNode:
    """The submission of one attacks.toml row: its base sample with the row's change."""
    nb = copy.deepcopy(load_sample(row["base"]))
    code = fill(row.get("code", ""), context)
    done = False
    if "append_to" in row:
        cell = nb.cells[find_cell(nb, row["append_to"])]
        cell.source = cell.source.rstrip("\n") + "\n\n" + code
        done = True
    if "body_of" in row:
        cell = nb.cells[find_cell(nb, row["body_of"])]
        cell.source = insert_in_body(cell.source, fill(row["body_code"], context) if "body_code" in row else code)
        done = True
    if "replace_solution" in row:
        nb.cells[find_cell(nb, row["replace_solution"])].source = code
        done = True
    if "new_cell" in row:
        cell = new_code_cell(code)
        if "cell_metadata" in row:
            cell.metadata["nbgrader"] = dict(row["cell_metadata"])
        nb.cells.insert(_position(nb, row["new_cell"]), cell)
        done = True
    if "edit_cell" in row:
        cell = nb.cells[find_cell(nb, row["edit_cell"])]
        if "code" in row:
            cell.source = code
        if "cell_metadata" in row:
            cell.metadata["nbgrader"].update(row["cell_metadata"])
        if "outputs" in row:
            cell.outputs = [nbformat.from_dict(o) for o in row["outputs"]]
            cell.execution_count = 1
        done = True
    if "delete_cell" in row:
        del nb.cells[find_cell(nb, row["delete_cell"])]
        done = True
    if "notebook_metadata" in row:
        nb.metadata.update(copy.deepcopy(row["notebook_metadata"]))
        done = True
    if not done:
        raise ValueError(f"attack {row['id']} changes nothing")
    nbformat.validate(nb)
    return nb


def perfect_source(function: str) -> str:
    """The perfect sample's solution cell for `function` (for attacks that smuggle correct code)."""
    nb = load_sample("perfect")
    return nb.cells[find_cell(nb, function)].source


# -- faults -----------------------------------------------------------------------------------

def _modified(row: dict, context: dict) -> bytes:
    """A sample changed as an attack row would be, as notebook JSON."""
    return nbformat.writes(build_attack(row, context)).encode("utf-8")


def _sample_bytes(name: str) -> bytes:
    return (SAMPLES / f"{name}.ipynb").read_bytes()


def _huge(row: dict, context: dict) -> bytes:
    """The perfect sample with ~100 MB of output in one cell (as a notebook saved with a big plot)."""
    nb = load_sample("perfect")
    nb.cells[find_cell(nb, "imports")].outputs = [nbformat.v4.new_output(
        "stream", name="stdout", text="x" * (100 * 2**20))]
    return nbformat.writes(nb).encode("utf-8")


def _nbformat_v3(row: dict, context: dict) -> bytes:
    nb = load_sample(row.get("base", "perfect"))
    return nbformat.writes(nbformat.convert(nb, 3), version=3).encode("utf-8")


def _future_nbformat(row: dict, context: dict) -> bytes:
    data = json.loads(_sample_bytes("perfect"))
    data["nbformat"], data["nbformat_minor"] = 5, 0
    return json.dumps(data).encode("utf-8")


def _not_utf8(row: dict, context: dict) -> bytes:
    text = _sample_bytes("perfect").decode("utf-8")
    # saved by an editor in Latin-1: "é" becomes the single byte 0xe9
    return text.replace("Gradient Checking", "Gradient Checking \u00e9t\u00e9", 1).encode("latin-1", "replace")


FAULT_BYTES = {
    "truncated": lambda row, ctx: _sample_bytes("perfect")[: len(_sample_bytes("perfect")) // 2],
    "empty": lambda row, ctx: b"",
    "binary": lambda row, ctx: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64,
    "json_not_notebook": lambda row, ctx: b'{"answer": 42, "cells": "none"}',
    "nbformat_v3": _nbformat_v3,
    "nbformat_future": _future_nbformat,
    "not_utf8": _not_utf8,
    "huge": _huge,
    "sample": lambda row, ctx: _sample_bytes(row["base"]),
    "modified": _modified,
}


def write_fault(row: dict, submissions: Path, context: dict) -> None:
    """Put one faults.toml row into the submissions folder, as its `layout` says."""
    student = row.get("student", row["id"])
    layout = row.get("layout", "flat")
    if layout == "flat":  # <student>.ipynb
        (submissions / f"{student}.ipynb").write_bytes(FAULT_BYTES[row["kind"]](row, context))
        return
    folder = submissions / student / row.get("assignment_folder", "gradient_checking")
    folder.mkdir(parents=True, exist_ok=True)
    if "kind" in row:
        (folder / row.get("filename", "gradient_checking.ipynb")).write_bytes(FAULT_BYTES[row["kind"]](row, context))
    for name, spec in row.get("extra_files", {}).items():
        data = _sample_bytes(spec[len("sample:"):]) if spec.startswith("sample:") else spec.encode("utf-8")
        (folder / name).write_bytes(data)


# -- evidence ---------------------------------------------------------------------------------

def tree_hashes(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file below folder (caches left out)."""
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and ".ipynb_checkpoints" not in path.parts:
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def processes_named(name: str) -> list[int]:
    """Pids whose command name (/proc/<pid>/comm) is `name`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def descendants(pid: int) -> list[int]:
    """Every process below pid, from /proc (children before the kill, to wait for them after)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# -- the sandbox boundary: planted targets and what must stay unchanged ------------------------

#: Where the kit's own files live (hashed by stat, so a write, chmod, chown or new hard link shows).
KIT_PARTS = ["autograder", "source", "release", "assignments", "samples", "nbgrader_config.py", "pyproject.toml"]
CANARY_TEXT = b"canary: the trusted side must never write here\n"


def fingerprint(*paths: Path) -> dict[str, tuple]:
    """{path: (type and mode, owner, size, mtime, ctime)} of everything below paths, links not
    followed, caches left out. Any write, chmod, chown or new hard link changes a file's ctime."""
    out = {}
    for top in paths:
        top = Path(top)
        if not os.path.lexists(top):
            continue
        entries = [top] if not top.is_dir() or top.is_symlink() else []
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d not in ("__pycache__", ".pytest_cache")]
            entries += [Path(folder) / name for name in dirs + files]
        for path in entries:
            info = path.lstat()
            out[str(path)] = (info.st_mode, info.st_uid, info.st_gid, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    return out


def guarded_paths() -> list[Path]:
    """The kit, the course and the interpreter's environment: no submission may change them."""
    return [ROOT / p for p in KIT_PARTS] + [Path(sys.prefix)]


def shm_key(name: str) -> int:
    """A SysV IPC key for one batch of this test process."""
    return 0x67630000 + (hash((os.getpid(), name)) & 0xFFFF)


def ipc_keys() -> set[int]:
    """Keys of every SysV shared memory segment and semaphore set on the machine."""
    keys = set()
    for kind in ("shm", "sem"):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        keys.update(int(line.split()[0]) for line in lines if line.split())
    return keys


def plant_targets(base: Path, name: str) -> dict:
    """Targets the sandbox attacks aim at, planted around the batch folder `base` (world-readable):
    a canary only root may write, a readable copy of the kit's package (another checkout), a
    canary in /root and one in /srv; the placeholders that name them."""
    canary = base / "canary.txt"
    canary.write_bytes(CANARY_TEXT)
    canary.chmod(0o644)
    copy = base / "kitcopy"
    shutil.copytree(ROOT / "autograder", copy / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    for folder, dirs, files in os.walk(copy):
        os.chmod(folder, 0o755)
        for f in files:
            os.chmod(os.path.join(folder, f), 0o644)
    srv = base / "srv-canary.txt"
    srv.write_bytes(CANARY_TEXT)
    srv.chmod(0o644)
    listeners = [socket.socket(socket.AF_INET, socket.SOCK_STREAM), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)]
    listeners[0].bind(("127.0.0.1", 0))
    unix_name = f"gc-attack-listen-{os.getpid()}-{name}"
    listeners[1].bind("\0" + unix_name)
    for listener in listeners:
        listener.listen(16)  # the kernel completes a connection into the backlog: no accept needed
        listener.setblocking(False)
    root_canary = Path("/root") / f".gc-canary-{os.getpid()}-{name}"
    if os.geteuid() == 0 and Path("/root").is_dir():
        root_canary.write_bytes(CANARY_TEXT)
        root_canary.chmod(0o644)
    return {"CANARY": canary, "KITCOPY": copy, "SRVCANARY": srv, "ROOTCANARY": root_canary,
            "SHMKEY": shm_key(name), "LISTENPORT": listeners[0].getsockname()[1], "LISTENUNIX": unix_name,
            "listeners": listeners}


def remove_targets(context: dict) -> None:
    Path(context["ROOTCANARY"]).unlink(missing_ok=True)


def fill_left_behind(prefix: str = "gc-attack-fill-") -> list[str]:
    """Files the disk-filling attack wrote that are still anywhere below the scratch folder of a
    grading process that has ended (at any depth, through folders made mode 000; links never
    followed; a batch running alongside is still alive). Free space itself is no measure on a
    machine where other programs write to /tmp meanwhile."""
    tops = [str(p) for p in Path("/tmp").glob("judge-*") if p.is_dir() and not p.is_symlink()
            and not Path(f"/proc/{p.name.split('-')[1]}").exists()]
    if not tops:
        return []
    found = subprocess.run(["find", *tops, "-name", f"{prefix}*", "-print"], capture_output=True, text=True)
    return found.stdout.split()


def _attack_connected(listener: socket.socket) -> bool:
    """Whether a pending connection on listener said it came from the attack (a busy machine's
    other programs, a Dask worker looking for its scheduler's old port, may connect too)."""
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return False
        with connection:
            connection.settimeout(1.0)
            try:
                said = connection.recv(64)
            except OSError:
                said = b""
        if said.startswith(b"gc-attack-"):
            return True


def leftovers(prefix: str = "gc-attack-") -> list[str]:
    """Files named prefix* left in the shared temporary folders or in a judge's scratch folder."""
    from autograder.judge.sandbox import SHARED_FOLDERS
    left = []
    for shared in SHARED_FOLDERS:
        folder = Path(shared)
        if folder.is_dir() and not folder.is_symlink():
            left += [str(p) for p in folder.iterdir() if p.name.startswith(prefix)]
    for scratch in Path("/tmp").glob("judge-*/work"):
        try:
            left += [str(p) for p in scratch.iterdir() if p.name.startswith(prefix)]
        except OSError:
            continue
    return left


def boundary_breaches(context: dict, before: dict, after: dict, out: Path) -> list[str]:
    """What a batch's submissions changed that no submission may: the canary, the kit, the course
    and the venv (fingerprints before/after), SysV IPC left behind, files a child uid owns in OUT."""
    from autograder.judge.sandbox import FIRST_CHILD_UID
    breaches = []
    canary = Path(context["CANARY"])
    if canary.is_symlink() or not canary.is_file() or canary.read_bytes() != CANARY_TEXT or canary.stat().st_uid != os.geteuid():
        breaches.append(f"the canary {canary} was changed")
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    if changed:
        breaches.append(f"kit, course or venv changed: {changed[:10]}")
    if context["SHMKEY"] in ipc_keys():
        breaches.append(f"SysV IPC key {context['SHMKEY']:#x} outlived the batch")
    owned = [str(p) for p in Path(out).rglob("*") if p.lstat().st_uid >= FIRST_CHILD_UID]
    if owned:
        breaches.append(f"files in OUT owned by a child's uid: {owned[:10]}")
    left = leftovers()
    if left:
        breaches.append(f"left in the shared temporary folders or a scratch folder: {left[:10]}")
    for listener in context.get("listeners", []):
        if _attack_connected(listener):
            breaches.append(f"a child connected to the test's socket {listener.getsockname()!r}")
        listener.close()
    filled = fill_left_behind()
    if filled:
        breaches.append(f"the disk-filling attack's files outlived the batch: {filled[:5]}")
    return breaches
