"""Run a command as an ordinary (non-root) user, the way an instructor's own account would.

    python tests/support/as_user.py UID COMMAND [ARG ...]      (run as root)

Test harness only. Drops to UID (gid the same, no supplementary groups) and execs COMMAND. Where
this interpreter lives under a folder other users cannot enter (a pyenv in /root), the command
first gets a private mount namespace in which that folder is a tmpfs showing only the
interpreter, as a machine with a system-wide Python would look; and the course's secret (made
by root, readable by root only) is shown to UID as its own, as in an instructor's own checkout.
"""
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run by path: no `support`
sys.path.insert(0, ROOT)
from autograder.judge.assembly import load_part  # noqa: E402

C = load_part("confine")


def _closed_ancestor(path: str) -> str | None:
    parts = os.path.realpath(path).split(os.sep)[1:]
    for depth in range(1, len(parts)):
        ancestor = os.sep + os.path.join(*parts[:depth])
        if not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


_PRIVATE_MOUNTS = []


def _own_mounts(libc) -> None:
    if not _PRIVATE_MOUNTS:
        C.checked(libc.unshare(C.CLONE_NEWNS), "unshare")
        C.mount_on(libc, None, "/", None, C.MS_REC | C.MS_PRIVATE)
        _PRIVATE_MOUNTS.append(True)


def lend_course_secret(uid: int) -> None:
    """Show UID a private copy of the course secret, owned by it, over the root-only original."""
    from autograder.grading.secret import SECRET_FILE, course_secret
    root = ROOT
    secret = course_secret()  # made now if missing, while we are still root
    fd, copy = tempfile.mkstemp(prefix="as-user-secret-")
    os.write(fd, secret + b"\n")
    os.fchown(fd, uid, uid)
    os.close(fd)
    libc = C.system_calls()
    _own_mounts(libc)
    C.mount_on(libc, copy, os.path.join(root, SECRET_FILE), None, C.MS_BIND)


def reveal_interpreter() -> None:
    prefix = os.path.realpath(sys.base_prefix)
    closed = _closed_ancestor(prefix)
    if closed is None:
        return
    libc = C.system_calls()
    _own_mounts(libc)
    held = os.open(prefix, os.O_RDONLY | os.O_DIRECTORY)
    C.mount_on(libc, "tmpfs", closed, "tmpfs", C.MS_NOSUID | C.MS_NODEV, "size=64k,mode=0755")
    os.makedirs(prefix, mode=0o755, exist_ok=True)
    C.mount_on(libc, f"/proc/self/fd/{held}", prefix, None, C.MS_BIND | C.MS_REC)
    os.close(held)


if __name__ == "__main__":
    uid = int(sys.argv[1])
    lend_course_secret(uid)
    reveal_interpreter()
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    os.execvp(sys.argv[2], sys.argv[2:])
