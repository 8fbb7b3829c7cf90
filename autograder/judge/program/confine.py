"""Confinement of untrusted code, applied by a freshly forked process to itself before it runs any.

Trusted code, a part of the zygote's program (README.md), so self-contained (no kit imports): the
zygote runs it in each child it forks, `sandbox.isolation_in_force` runs it in a probe, and the
trusted side mounts and detaches scratch with it (assembly.load_part). What it can do depends on
the machine, strongest first; whatever fails, the later steps still run:
  1. namespaces (as root, or inside a user namespace for an ordinary user): mount, network,
     process id, SysV IPC and host name. No network, no other process visible, shared memory
     and semaphores die with the child;
  2. an allowlisted root file system: a fresh tmpfs holding only the interpreter, its packages
     and the shared libraries it has loaded (read-only), a private /dev, /tmp and /proc, and the
     child's scratch: a fresh size- and inode-capped tmpfs (nosuid, nodev, noexec) at the scratch
     folder's path holding copies of the helper modules the trusted side put there; every other
     path on the machine is absent, and nothing the child writes reaches the host's disk or
     outlives it;
  3. privileges dropped, always: as root the child becomes the unprivileged uid the trusted side
     chose for its submission, never another's (it owns the scratch folder, nothing else); PR_SET_NO_NEW_PRIVS is set
     and the capability bounding, ambient, inheritable, permitted and effective sets emptied;
  4. rlimits on address space, CPU seconds, file size, core dumps, open files and (under a uid
     of its own) processes;
  5. a seccomp filter (libseccomp, through pyseccomp) that fails socket(2) of every family and
     io_uring_setup(2): no network and no host service over a unix socket, even where network
     namespaces are refused.
`confine` returns the measures in force, for the record (`./kit sandbox`, `grade`'s summary).
"""
import ctypes
import os
import platform
import resource
import signal
import socket
import stat

try:
    import pyseccomp as _seccomp
except (ImportError, OSError):  # no libseccomp here: `confine` reports the filter missing
    _seccomp = None

#: unshare(2)'s and mount(2)'s flags; public: the formgrader's and the tests' mounts use them too.
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 1024, 2048, 4096, 16384, 1 << 18, 1 << 21
_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT = 1, 24, 38, 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_MNT_DETACH, _UMOUNT_NOFOLLOW = 2, 8
#: statvfs flag -> mount flag, for the flags a read-only remount must keep (locked in a user namespace).
_KEPT_FLAGS = ((1, MS_RDONLY), (2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC), (1024, MS_NOATIME),
               (2048, MS_NODIRATIME), (4096, MS_RELATIME))
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217, "i686": 217}
_CAP_VERSION_3 = 0x20080522
_NOBODY = 65534
#: Device nodes the child's private /dev holds (bound from the host's).
_DEVICES = ("null", "zero", "full", "random", "urandom")
#: System folders of shared libraries: bound whole (a library loaded later sits beside the others).
_LIBRARY_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
#: Measures, as `confine` reports them.
NAMESPACES = "namespaces: mount, network, process id, SysV IPC, host name (no network, no other process)"
ALLOWLIST = "file system: only the interpreter, its packages, the helper modules and scratch"
NO_PRIVILEGES = "no_new_privs set and every capability dropped"
RLIMITS = "rlimits: memory, CPU time, file size, open files"
NO_SOCKETS = "seccomp: socket() refused (no network, no unix sockets)"
#: Scratch caps when the trusted side gives none (Limits.scratch_mb, Limits.scratch_files).
SCRATCH_MB, SCRATCH_FILES = 64, 4096
_SCRATCH_FLAGS = 2 | 4 | 8  # nosuid, nodev, noexec


def _limit(which, value):
    try:
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass


def system_calls():
    """libc with the argument types of the calls confinement makes (also the trusted side's, through
    assembly.load_part: the formgrader's unprivileged server mounts with them)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return libc


def checked(result, what):
    """Raise OSError (with errno's words) unless a libc call returned 0."""
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount_on(libc, source, target, fstype, flags, data=None):
    """mount(2), raising OSError on failure; paths as str or Path."""
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731 (str or Path)
    checked(libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _unshare(libc):
    """Enter new mount, network, pid, IPC and UTS namespaces (in a user namespace unless root)."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if uid == 0:
        return libc.unshare(flags) == 0
    if libc.unshare(CLONE_NEWUSER | flags) != 0:
        return False
    try:  # the same uid inside as outside: not root there either, only the capabilities of a new namespace
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
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


def _fork_and_wait(libc):
    """Fork; the parent mirrors the child's end, the child dies with its parent."""
    parent = os.getpid()
    child = os.fork()
    if child:
        _mirror(child)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() not in (parent, 0):  # 0: the first process of a pid namespace sees no parent
        os._exit(70)


def _kept_flags(path):
    try:
        flags = os.statvfs(path).f_flag
    except OSError:
        return 0
    return sum(mount for stat, mount in _KEPT_FLAGS if flags & stat)


def _bind(libc, source, target, writable=False, recursive=True):
    if os.path.isdir(source):
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644))
    mount_on(libc, source, target, None, MS_BIND | (MS_REC if recursive else 0))
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | _kept_flags(target)
    mount_on(libc, None, target, None, flags & ~MS_RDONLY if writable else flags | MS_RDONLY)


def scratch_tmpfs(path, limits, uid):
    """Mount a scratch tmpfs (capped, nosuid, nodev, noexec, owned by uid as root) on the folder
    path, in this process's mount namespace: the trusted side's scratch where a child gets no
    namespace of its own. Raises OSError where mounting is not allowed."""
    mount_on(system_calls(), "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, _scratch_options(limits, uid))


def detach(path):
    """Unmount path lazily (what is mounted there goes once nothing uses it), never through a link."""
    checked(system_calls().umount2(path.encode(), _MNT_DETACH | _UMOUNT_NOFOLLOW), f"umount {path}")


def _inside(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _scratch_options(limits, uid):
    """tmpfs options of a scratch: its caps, and its owner (the child's uid as root)."""
    owner = f",uid={uid},gid={uid}" if os.geteuid() == 0 else ""
    return (f"size={int(limits.get('scratch_mb', SCRATCH_MB))}m,"
            f"nr_inodes={int(limits.get('scratch_files', SCRATCH_FILES))},mode=0700{owner}")


def _copy_helpers(held, target):
    """Copy the regular *.py files of the folder `held` (an fd) into `target`, never following a
    link: the helper modules the trusted side put in the scratch folder."""
    for name in os.listdir(held):
        if not name.endswith(".py"):
            continue
        try:
            source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=held)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(source).st_mode):
                continue
            copy = os.open(os.path.join(target, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            try:
                while chunk := os.read(source, 1 << 16):
                    os.write(copy, chunk)
            finally:
                os.close(copy)
        finally:
            os.close(source)


def _build_root(libc, scratch, allow, hide, limits, uid):
    """Mount a tmpfs over scratch and fill it with the allowlist; returns that new root's path."""
    held = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    mount_on(libc, None, "/", None, MS_REC | MS_PRIVATE)
    root = scratch  # covered by the new root's tmpfs; the real folder is reached through `held`
    mount_on(libc, "tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=0755")
    # The private /tmp and /dev/shm first: an interpreter or venv under /tmp is bound on top of them.
    scratch_mb = int(limits.get("scratch_mb", SCRATCH_MB))
    for path, size in (("/dev/shm", min(64, scratch_mb)), ("/tmp", scratch_mb)):
        os.makedirs(root + path, mode=0o755, exist_ok=True)
        mount_on(libc, "tmpfs", root + path, "tmpfs", MS_NOSUID | MS_NODEV,
               f"size={size}m,nr_inodes={int(limits.get('scratch_files', SCRATCH_FILES))},mode=1777")
    for path in allow:
        if os.path.islink(path):
            os.makedirs(os.path.dirname(root + path), mode=0o755, exist_ok=True)
            os.symlink(os.readlink(path), root + path)
        elif os.path.exists(path):
            _bind(libc, path, root + path)
    for path in hide:
        if any(_inside(path, a) for a in allow) and os.path.exists(root + path):
            if os.path.isdir(root + path):
                mount_on(libc, "tmpfs", root + path, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0555")
            else:
                mount_on(libc, "/dev/null", root + path, None, MS_BIND)
    dev = root + "/dev"
    os.makedirs(dev, mode=0o755, exist_ok=True)
    mount_on(libc, "tmpfs", dev, "tmpfs", MS_NOSUID, "size=64k,mode=0755")
    for name in _DEVICES:
        if os.path.exists("/dev/" + name):
            os.close(os.open(f"{dev}/{name}", os.O_WRONLY | os.O_CREAT, 0o666))
            mount_on(libc, "/dev/" + name, f"{dev}/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.makedirs(root + "/proc", mode=0o555, exist_ok=True)
    # The child's scratch: its own tmpfs, gone with its mount namespace; the host's folder (under
    # the new root's tmpfs now) only lends the helper modules.
    os.makedirs(root + scratch, mode=0o755, exist_ok=True)
    mount_on(libc, "tmpfs", root + scratch, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, _scratch_options(limits, uid))
    _copy_helpers(held, root + scratch)
    os.close(held)
    return root


def _enter_root(libc, root):
    """pivot_root onto the new root and detach the old one (a move and chroot where unknown)."""
    os.chdir(root)
    number = _PIVOT_ROOT.get(platform.machine())
    if number is not None and libc.syscall(number, b".", b".") == 0:
        checked(libc.umount2(b".", _MNT_DETACH), "detach the old root")
    else:
        mount_on(libc, root, "/", None, MS_BIND | MS_REC)  # pragma: no cover (unknown architecture)
        os.chroot(".")
    os.chdir("/")
    mount_on(libc, None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _drop_capabilities(libc):
    """Empty the bounding and ambient sets (where allowed), then every other set; no_new_privs."""
    try:
        last = int(open("/proc/sys/kernel/cap_last_cap").read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # EPERM without CAP_SETPCAP: nothing to drop then
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    checked(libc.capset(header, data), "capset")
    checked(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _drop_privileges(libc, uid, limits):
    """As root: become `uid` (nobody if none was given). Always: no capabilities, no_new_privs."""
    dropped_user = None
    if os.geteuid() == 0:
        uid = _NOBODY if uid is None else int(uid)
        _limit(resource.RLIMIT_NPROC, int(limits.get("processes", 256)))
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        for cap in range(64):  # before setresuid: dropping the bounding set needs CAP_SETPCAP
            if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                break
        os.setresuid(uid, uid, uid)
        dropped_user = f"unprivileged uid {uid}, one per submission and never reused (writes only to its scratch)"
    _drop_capabilities(libc)
    return dropped_user


def _rlimits(limits):
    _limit(resource.RLIMIT_AS, int(limits.get("memory_mb", 1024)) * 1024 * 1024)
    cpu = int(limits.get("cpu_seconds", 300))
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    except (ValueError, OSError):
        pass
    _limit(resource.RLIMIT_FSIZE, int(limits.get("file_size_mb", 16)) * 1024 * 1024)
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_NOFILE, int(limits.get("open_files", 256)))


def _refuse_sockets():
    """Fail socket(2) of every family with EACCES, and io_uring (which can make sockets too),
    for this process and all it starts; other architectures' system calls kill it (libseccomp's
    default). True when the filter is in force."""
    if _seccomp is None:
        return False
    import errno
    try:
        refusal = _seccomp.SyscallFilter(defaction=_seccomp.ALLOW)
        refusal.add_rule(_seccomp.ERRNO(errno.EACCES), "socket")
        refusal.add_rule(_seccomp.ERRNO(errno.EPERM), "io_uring_setup")
        refusal.load()
    except (OSError, RuntimeError, ValueError):
        return False
    return True


def allowlist(extra=()):
    """What the child's file system shows, read-only: the interpreter's stdlib and packages, and
    every file this (warm) process has mapped, by folder for shared libraries. Call it after the
    imports the children inherit; trusted side only (the zygote, the probe)."""
    import site
    import sys
    import sysconfig
    paths = {sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(site.getsitepackages())
    paths.update(os.path.realpath(p) for p in list(paths) if p)
    paths.add(os.path.realpath(sys.executable))
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                parts = line.split(None, 5)
                mapped = parts[5].rstrip("\n") if len(parts) == 6 else ""
                if mapped.startswith("/") and not mapped.endswith("(deleted)") and not any(
                        _inside(mapped, f) for f in ("/proc", "/dev", "/sys", "/tmp", "/run")):
                    folder = os.path.dirname(mapped)
                    shared = ".so" in os.path.basename(mapped) and any(_inside(folder, d) for d in _LIBRARY_DIRS)
                    paths.add(folder if shared else mapped)
    except OSError:
        pass
    paths.update(p for p in ("/lib", "/lib64", "/etc/ld.so.cache", "/etc/localtime") if os.path.lexists(p))
    paths.update(extra)
    # Only paths without a link on the way (a link itself only where its folder has none): the new
    # root is built by joining them, and must never meet a link it made itself.
    real = lambda p: os.path.realpath(p) == p or (os.path.islink(p) and os.path.realpath(os.path.dirname(p)) == os.path.dirname(p))
    paths = sorted({p for p in paths if p and p != "/" and os.path.lexists(p) and real(p)}, key=len)
    kept = []
    for path in paths:
        if not any(_inside(path, k) for k in kept if not os.path.islink(k)):
            kept.append(path)
    return kept


def confine(spec):
    """Confine this process; returns the measures in force.

    spec: {"limits": {...}, "scratch": folder, "uid": the uid to become as root (or None),
    "allow": the allowlist, "hide": paths inside the allowlist to cover (the kit's own package)}."""
    measures, limits = [], spec.get("limits", {})
    scratch = os.path.abspath(spec["scratch"])
    libc = system_calls()
    if _unshare(libc):
        measures.append(NAMESPACES)
        try:
            socket.sethostname("sandbox")
        except OSError:
            pass
        _fork_and_wait(libc)  # process 1 of the new pid namespace: it mounts /proc, then waits
        try:
            root = _build_root(libc, scratch, spec.get("allow", []), spec.get("hide", []), limits,
                               _NOBODY if spec.get("uid") is None else int(spec["uid"]))
            try:
                mount_on(libc, "proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            except OSError:
                pass  # e.g. a container's masked /proc; the child then has none
            _enter_root(libc, root)
            measures.append(ALLOWLIST)
        except OSError as exc:
            measures.append(f"WEAK: the file system is NOT restricted ({exc})")
        _fork_and_wait(libc)
    try:
        folder = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        os.fchdir(folder)
        os.close(folder)
    except OSError:
        os._exit(72)  # scratch is not the folder the trusted side made: run nothing
    user = None
    try:
        user = _drop_privileges(libc, spec.get("uid"), limits)
        if user:
            measures.append(user)
        measures.append(NO_PRIVILEGES)
    except OSError as exc:
        if os.geteuid() == 0 or os.getuid() == 0:
            os._exit(71)  # never run student code as root
        measures.append(f"WEAK: privileges not fully dropped ({exc})")
    _rlimits(limits)
    measures.append(RLIMITS + (", processes" if user else ""))
    measures.append(NO_SOCKETS if _refuse_sockets() else "WEAK: no seccomp filter: student code may open sockets "
                    "where it has no network namespace (install libseccomp2 and pyseccomp)")
    return measures
