"""Confinement of untrusted code, applied by a process to itself before it runs any.

Self-contained (no kit imports): the zygote runs it in each child it forks, and a fresh child
runs it first. What it can do depends on the machine, strongest first:
  - private mount and network namespaces (as root, or in a user namespace where the kernel
    allows them): no network; the course, the kit and the gradebook hidden under empty
    tmpfs; a private /tmp holding only the child's own scratch folder;
  - as root, then drop to the unprivileged user `nobody`: no write access outside scratch;
  - always: POSIX rlimits on address space, CPU seconds, file size, core dumps, open files and
    (as nobody) processes.
`confine` returns the list of measures in force.
"""
import ctypes
import os
import resource
import signal

_CLONE_NEWNS, _CLONE_NEWUSER, _CLONE_NEWNET, _CLONE_NEWPID = 0x00020000, 0x10000000, 0x40000000, 0x20000000
_PR_SET_PDEATHSIG = 1
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT = 1, 2, 4, 32
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18
_NOBODY = 65534
#: World-writable places that get a private, empty tmpfs in the child's view.
_SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def _limit(which, value):
    try:
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _mount(libc, source, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()
    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}: {os.strerror(ctypes.get_errno())}")


def _namespaces(libc):
    """Enter new mount, network and process-id namespaces; True when it worked."""
    uid, gid = os.getuid(), os.getgid()
    flags = _CLONE_NEWNS | _CLONE_NEWNET | _CLONE_NEWPID
    if uid == 0 and libc.unshare(flags) == 0:
        return True
    if libc.unshare(_CLONE_NEWUSER | flags) != 0:
        return False
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    except OSError:
        return False
    return True


def _mirror(pid):
    """Wait for pid, then end this process the way it ended (never returns)."""
    try:
        os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])  # hold no pipe open
    except (ValueError, OSError):
        pass
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(70)
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    code = 0 if sig else os.WEXITSTATUS(status)
    if not sig and code > 128 and code - 128 in signal.valid_signals():
        sig = code - 128  # a namespace's first process reports a signal as 128 + its number
    if sig and os.getpid() != 1:
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(128 + sig if sig else code)


def _die_with_parent(libc):
    parent = os.getppid()
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(70)


def _enter_pid_namespace(libc):
    """Become process 2 of the new process-id namespace, under a process 1 that only waits.

    Nothing outside the namespace can be seen or signalled from inside, and when this process
    or the process that launched it ends, the whole namespace ends with it."""
    first = os.fork()
    if first:
        _mirror(first)
    _die_with_parent(libc)
    try:
        _mount(libc, "proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | 8)  # 8: MS_NOEXEC
    except OSError:
        pass
    second = os.fork()
    if second:
        _mirror(second)
    _die_with_parent(libc)


def _reveal(libc, needed):
    """Let an unprivileged user reach the interpreter even under a private folder (e.g. a
    Python installed in /root): cover the closed ancestor with a tmpfs holding only that path."""
    for path in needed:
        parts = os.path.abspath(path).split(os.sep)[1:]
        for depth in range(1, len(parts)):
            ancestor = os.sep + os.path.join(*parts[:depth])
            try:
                if os.stat(ancestor).st_mode & 0o001:
                    continue
            except OSError:
                break
            keep = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            _mount(libc, "tmpfs", ancestor, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=4k,mode=0755")
            os.makedirs(path, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{keep}", path, None, _MS_BIND | _MS_REC)
            os.close(keep)
            break


def _cover(libc, target, data, keep, read_only=False):
    """Mount an empty tmpfs on target, then bind back the paths in keep that lie inside it."""
    inside = [p for p in keep if p.startswith(target.rstrip("/") + "/")]
    held = {p: os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in inside if os.path.isdir(p)}
    _mount(libc, "tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV, data)
    for path, fd in held.items():
        os.makedirs(path, exist_ok=True)
        _mount(libc, f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC)
        os.close(fd)
    if read_only:
        _mount(libc, None, target, None, _MS_REMOUNT | _MS_NOSUID | _MS_NODEV | _MS_RDONLY, data)


def _hide_and_privatise(libc, scratch, hide, needed=()):
    _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE)
    if os.getuid() == 0:
        _reveal(libc, needed)
    keep = [os.path.abspath(scratch)] + [os.path.abspath(p) for p in needed]
    for path in hide:
        try:
            if os.path.isdir(path):
                _cover(libc, path, "size=4k,mode=0555", keep, read_only=True)
            elif os.path.exists(path):
                _mount(libc, "/dev/null", path, None, _MS_BIND)
        except OSError:
            pass
    for path in _SHARED_TMP:
        if os.path.isdir(path) and not os.path.islink(path) and not any(
                os.path.abspath(n) == path or path.startswith(os.path.abspath(n) + "/") for n in needed):
            try:
                _cover(libc, path, "size=256m,mode=1777", keep)
            except OSError:
                pass
    os.chdir(scratch)


def confine(limits, scratch, hide=(), needed=()):
    """Confine this process (limits: a dict); returns the measures in force, for the record.

    hide: paths to cover with an empty tmpfs; needed: the interpreter's folders, which must
    stay readable after dropping privileges."""
    measures = []
    try:
        libc = _libc()
        if _namespaces(libc):
            measures.append("network and mount namespaces (no network)")
            try:
                _hide_and_privatise(libc, scratch, hide, needed)
                measures.append("course, kit and gradebook hidden; private /tmp")
            except OSError:
                pass
            _enter_pid_namespace(libc)
            measures.append("own process-id namespace (no other process visible)")
    except (OSError, AttributeError):
        pass
    if os.getuid() == 0 and limits.get("drop_to_nobody", True) and measures:
        try:
            for root, dirs, files in os.walk(scratch):
                for name in dirs + files + [""]:
                    os.chown(os.path.join(root, name) if name else root, _NOBODY, _NOBODY)
            _limit(resource.RLIMIT_NPROC, int(limits.get("processes", 256)))
            os.setgroups([])
            os.setgid(_NOBODY)
            os.setuid(_NOBODY)
            measures.append("unprivileged user nobody (no writes outside scratch)")
        except OSError:
            pass
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
    measures.append("rlimits: memory, CPU time, file size, open files" +
                    (", processes" if "unprivileged user nobody (no writes outside scratch)" in measures else ""))
    return measures
