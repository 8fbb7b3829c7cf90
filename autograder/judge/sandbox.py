"""How untrusted code is started: a fresh scratch folder, a clean environment, its uid, what it
must not see, and the sweep after it. Trusted side; the child confines itself with confine.py.

Every place the trusted side touches a scratch folder, all of them tested with planted symlinks,
hard links and FIFOs (tests/data/attacks.toml, rows `scratch_*`):
  1. `Scratch()`: mkdtemp (ours, 0711), `work/` made in it, the assignment's helper modules
     copied in and, as root, `work/` given to the child's uid by one fchown of its fd; all before
     any student code runs. The child cannot rename `work/`, so its path stays ours.
  2. `confine` in each new child, before it runs student code: `work/` opened with O_NOFOLLOW
     | O_DIRECTORY and bind-mounted into the child's new root through that fd; chdir into it.
  3. `Scratch.__exit__`: shutil.rmtree, which works on directory fds and unlinks links and FIFOs
     without opening or following them.
Nothing else: the child's stdout/stderr go to a pipe the judge drains, its exit status comes from
the zygote's waitpid over another pipe, and its outputs and figures arrive over the reply pipe.
`sweep` (after each submission, as root) works in /tmp, /var/tmp and /dev/shm through directory
fds and never follows a link either.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import signal
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Environment variables passed through to untrusted code (OpenBLAS needs these on some CPUs).
PASSTHROUGH_ENV = ("PATH", "LANG", "LC_ALL", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TZ")


@dataclass(frozen=True)
class Limits:
    """Resources one submission's untrusted process may use."""
    wall_seconds: float = 120.0
    memory_mb: int = 1024
    file_size_mb: int = 16
    open_files: int = 256
    #: processes (and threads) of the whole submission, where it has a control group (cgroup.py),
    #: and of its uid (RLIMIT_NPROC) where the child runs as a uid of its own
    processes: int = 256

    @property
    def cpu_seconds(self) -> int:
        return int(self.wall_seconds) + 1


def clean_env(home: Path) -> dict:
    env = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ}
    env.update(HOME=str(home), TMPDIR=str(home), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1",
               PYTHONHASHSEED="0", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLCONFIGDIR=str(home / ".matplotlib"))
    return env


class Scratch:
    """A fresh working folder for one untrusted process, made and handed over before it runs.

    `path` is a folder `work` inside a fresh folder of our own (mode 0711): the child owns `work`
    but cannot rename or replace it, so the path keeps meaning the folder we made."""

    def __init__(self, helpers: Path | None = None, prefix: str = "judge-", owner: int | None = None):
        assert shutil.rmtree.avoids_symlink_attacks, "this platform's rmtree follows links"
        self.outer = Path(tempfile.mkdtemp(prefix=prefix))
        self.outer.chmod(0o711)
        self.path = self.outer / "work"
        self.path.mkdir(mode=0o700)
        if helpers is not None and helpers.is_dir():
            for item in helpers.iterdir():
                if item.suffix == ".py" and item.is_file():
                    shutil.copyfile(item, self.path / item.name)
                    (self.path / item.name).chmod(0o644)
        if owner is not None:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                os.fchown(fd, owner, owner)
            finally:
                os.close(fd)

    def __enter__(self) -> "Scratch":
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.outer, ignore_errors=True)


_NOBODY = 65534
#: As root, children run as FIRST_CHILD_UID + slot: one uid per grading process, never shared by
#: two concurrent children, owning nothing but their scratch folder.
FIRST_CHILD_UID = 1_900_000_000
SLOTS = 4096
_SLOT: list = []
# A forked process is another grader: it takes a slot (and a uid) of its own when it needs one.
# The lock it inherited is its parent's (flock locks belong to the open file, which both share).
os.register_at_fork(after_in_child=_SLOT.clear)


def _slot_folder() -> int | None:
    """A folder only root can write, for the slot locks (fd), or None."""
    for parent in ("/run", tempfile.gettempdir()):
        path = os.path.join(parent, "gradcheck-judge-slots")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError:
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        info = os.fstat(fd)
        if info.st_uid == 0 and not info.st_mode & 0o022:
            return fd
        os.close(fd)
    return None


def child_uid() -> int | None:
    """The uid this process's children run as when it is root (None otherwise): a slot held with
    a lock for this process's life, so concurrent graders' children never share a uid."""
    if os.geteuid() != 0:
        return None
    if not _SLOT:
        folder, slot = _slot_folder(), None
        if folder is not None:
            for candidate in range(SLOTS):
                fd = os.open(f"{candidate}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600, dir_fd=folder)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                slot = candidate
                _SLOT.append(fd)  # held open: the lock lasts as long as this process
                break
            os.close(folder)
        slot = slot if slot is not None else SLOTS + os.getpid() % SLOTS
        _SLOT.insert(0, _mapped_uid(FIRST_CHILD_UID + slot, slot))
    return _SLOT[0]


def _id_ranges(kind: str) -> list[tuple[int, int]]:
    """(first id, count) of the ids this process's user namespace maps (all of them on a host)."""
    try:
        lines = Path(f"/proc/self/{kind}_map").read_text().splitlines()
        return [(int(line.split()[0]), int(line.split()[2])) for line in lines if line.strip()]
    except (OSError, ValueError, IndexError):
        return [(0, 1 << 32)]


def _mapped_uid(preferred: int, slot: int) -> int:
    """preferred if it is a valid uid and gid here, else one near the top of the largest mapped
    range (root in a rootless container may map only 65536 ids)."""
    ranges = {kind: _id_ranges(kind) for kind in ("uid", "gid")}
    usable = lambda i: all(any(s <= i < s + c for s, c in ranges[k]) for k in ranges)
    if usable(preferred):
        return preferred
    for start, count in sorted(ranges["uid"], key=lambda r: -r[1]):
        candidate = start + count - 3 - slot % max(1, count // 2)  # below 65534 (nobody) and 65535
        if candidate > start and candidate not in (0, _NOBODY) and usable(candidate):
            return candidate
    return _NOBODY


def hidden_paths(extra=()) -> list[str]:
    """What untrusted code must not see even where its allowlist reaches it: the kit's package (a
    non-editable install lies inside site-packages), the course it belongs to, and extra (the
    grading run's output folder with its gradebook and every student's files)."""
    kit = Path(__file__).resolve().parent.parent
    paths = [kit]
    course = kit.parent
    if (course / "assignments").is_dir() and (course / "source").is_dir():
        paths += sorted(course.iterdir())
    paths += [Path(p) for p in extra]
    return sorted({str(p.resolve()) for p in paths if p.exists()})


def python_command(*args: str) -> list[str]:
    """The interpreter for untrusted code: this one, isolated from user site and PYTHON* vars."""
    return [sys.executable, "-I", *args]


#: Measures that, missing, leave student code with only rlimits and its uid between it and the machine.
STRONG = ("namespaces:", "file system: only")


def isolation_in_force(limits: Limits | None = None) -> list[str]:
    """The confinement measures a child actually gets on this machine (confine a probe and ask it)."""
    import json
    import subprocess
    confine_source = (Path(__file__).parent / "confine.py").read_text()
    limits = limits or Limits()
    spec = {"memory_mb": limits.memory_mb, "cpu_seconds": limits.cpu_seconds,
            "file_size_mb": limits.file_size_mb, "open_files": limits.open_files}
    program = confine_source + (
        "\nimport json, sys\nimport numpy\nspec = json.loads(sys.argv[1])\nspec['allow'] = allowlist()\n"
        "print(json.dumps(confine(spec)), flush=True)\n")
    owner = child_uid()
    with Scratch(owner=owner) as scratch:
        args = json.dumps({"limits": spec, "scratch": str(scratch.path), "uid": owner, "hide": hidden_paths()})
        proc = subprocess.run(python_command("-c", program, args), capture_output=True, text=True,
                              cwd=scratch.path, env=clean_env(scratch.path), timeout=60)
    sweep(owner)
    try:
        measures = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return ["unknown: the probe failed (" + proc.stderr.strip()[-200:] + ")"]
    from . import cgroup
    group = cgroup.in_force()
    if group:
        measures.append(group)
    else:
        measures.insert(0, f"WARNING: WEAK ISOLATION: no control group ({cgroup.unavailable()}): CPU time is "
                           "sampled from /proc (processes reaped at once go uncharged; wall time still stops "
                           "them), memory and processes are capped per process, not for the whole submission")
    if not all(any(m.startswith(s) for m in measures) for s in STRONG):
        measures.insert(0, "WARNING: WEAK ISOLATION: student code is held by rlimits and its user id only; it can "
                           "read every file its user can read (other copies of the kit, other checkouts). "
                           "Grade as root on a machine that allows namespaces, or in a throwaway container or VM")
    return measures


#: World-writable folders where code without its own namespaces may leave files behind.
SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")


def _remove_ipc(uid: int) -> None:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    ipc_rmid = 0
    removers = {"shm": lambda i: libc.shmctl(i, ipc_rmid, None), "sem": lambda i: libc.semctl(i, 0, ipc_rmid),
                "msg": lambda i: libc.msgctl(i, ipc_rmid, None)}
    for kind, remove in removers.items():
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        except OSError:
            continue
        header = lines[0].split() if lines else []
        for line in lines[1:]:
            row = dict(zip(header, line.split()))
            if str(uid) in (row.get("uid"), row.get("cuid")):
                remove(int(row.get("shmid") or row.get("semid") or row.get("msqid")))


def _remove_files(uid: int) -> None:
    for folder in SHARED_FOLDERS:
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            for name in os.listdir(fd):
                try:
                    info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if info.st_uid != uid:
                        continue
                    if stat.S_ISDIR(info.st_mode):
                        shutil.rmtree(name, dir_fd=fd)
                    else:
                        os.unlink(name, dir_fd=fd)
                except OSError:
                    continue
        finally:
            os.close(fd)


def sweep(uid: int | None) -> None:
    """As root, after a submission: end every process of its child uid and remove what that uid
    left in SysV IPC and the shared temporary folders. Inside namespaces all of it dies with the
    child anyway; this is what holds where namespaces are refused. Never opens a path by name
    through a link."""
    if uid is None or os.geteuid() != 0:
        return
    if not _kill_all_spawned(uid):
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)  # as that uid: every process of that uid but this one
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
    _remove_ipc(uid)
    _remove_files(uid)


#: util-linux's setpriv and procps' kill, from the system's own folders: `setpriv` becomes the
#: uid, then `kill -KILL -1` signals every process that uid may signal, never itself.
_SETPRIV = shutil.which("setpriv", path="/usr/bin:/bin")
_KILL = shutil.which("kill", path="/usr/bin:/bin")


def _kill_all_spawned(uid: int) -> bool:
    """The sweep's kill through posix_spawn (vfork: the grader's memory is not copied, where a
    fork of it cost some 20 ms of copied pages a submission); False when it could not be done
    this way (no such programs, or setpriv could not become the uid: it exits 127)."""
    if not (_SETPRIV and _KILL):
        return False
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            pid = os.posix_spawn(_SETPRIV, [_SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
                                            _KILL, "-KILL", "-1"], {"PATH": "/usr/bin:/bin"},
                                 file_actions=[(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)])
        finally:
            os.close(devnull)
        _, status = os.waitpid(pid, 0)
    except OSError:
        return False
    return os.waitstatus_to_exitcode(status) in (0, 1)  # 1: kill found nothing of that uid to end
