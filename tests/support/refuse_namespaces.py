"""Run a command where new namespaces are refused, as Docker's default seccomp profile does.

    python tests/support/refuse_namespaces.py COMMAND [ARG ...]

Test harness only: installs a seccomp filter that fails unshare(2), setns(2), and clone(2) or
clone3(2) asking for a new namespace, with EPERM, then execs COMMAND (the filter is inherited by
every process it starts). A real refusal by the kernel, not a flag the kit could read.
"""
import ctypes
import os
import platform
import struct
import sys

_LD_W_ABS, _JEQ_K, _JSET_K, _RET_K = 0x20, 0x15, 0x45, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_EPERM, _ENOSYS = 1, 38
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
#: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
#: (audit arch, unshare, setns, clone, clone3) per machine.
_ARCH = {"x86_64": (0xC000003E, 272, 308, 56, 435), "aarch64": (0xC00000B7, 97, 268, 220, 435)}


def _program():
    arch, unshare, setns, clone, clone3 = _ARCH[platform.machine()]
    ins = lambda code, jt, jf, k: struct.pack("=HBBI", code, jt, jf, k)
    return [
        ins(_LD_W_ABS, 0, 0, 4),            # 0: arch
        ins(_JEQ_K, 0, 8, arch),            # 1: other ABI -> allow (9)
        ins(_LD_W_ABS, 0, 0, 0),            # 2: syscall number
        ins(_JEQ_K, 7, 0, unshare),         # 3: -> EPERM (11)
        ins(_JEQ_K, 6, 0, setns),           # 4: -> EPERM (11)
        ins(_JEQ_K, 7, 0, clone3),          # 5: -> ENOSYS (13): glibc then falls back to clone
        ins(_JEQ_K, 0, 2, clone),           # 6: not clone -> allow (9)
        ins(_LD_W_ABS, 0, 0, 16),           # 7: clone's flags (low 32 bits)
        ins(_JSET_K, 2, 0, _NAMESPACE_FLAGS),  # 8: a new namespace -> EPERM (11)
        ins(_RET_K, 0, 0, _ALLOW),          # 9
        ins(_RET_K, 0, 0, _ALLOW),          # 10
        ins(_RET_K, 0, 0, _ERRNO | _EPERM),  # 11
        ins(_RET_K, 0, 0, _ERRNO | _EPERM),  # 12
        ins(_RET_K, 0, 0, _ERRNO | _ENOSYS),  # 13
    ]


def refuse_namespaces() -> None:
    """Install the filter in this process (and so in everything it starts)."""
    code = b"".join(_program())
    buffer = ctypes.create_string_buffer(code, len(code))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Prog(len(code) // 8, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0 or \
            libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter not installed")


if __name__ == "__main__":
    refuse_namespaces()
    os.execvp(sys.argv[1], sys.argv[1:])
