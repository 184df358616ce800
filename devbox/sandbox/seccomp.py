"""The seccomp filter of every box session and build step, as raw `struct sock_filter` bytes
for `bwrap --seccomp FD` or prctl().

Every tier: ioctl(fd, TIOCSTI) and ioctl(fd, TIOCLINUX) fail with EPERM, so nothing in a box
can push input into the terminal it shares with the host (an interactive shell cannot have a
session of its own: it needs the terminal for job control). The kernel takes the request as an
unsigned int, so only its low 32 bits are compared. System calls of another ABI (i386 or x32 on
x86_64, arm on aarch64) kill the process: the rule cannot be dodged through another syscall
table, as libseccomp-based filters (flatpak's) do for architectures they do not list.

Tier 3 (`fake_ids`): in a single-uid user namespace only one id is mapped, so dpkg's and apt's
chown/setuid calls fail (EINVAL/EPERM). Charliecloud's answer, which we follow: the filter makes
them, and mknod of device nodes, return 0.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
import struct
import sys

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JSET_K = 0x45
_AND_K = 0x54
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO_0 = 0x00050000  # "errno 0": the call returns 0, i.e. succeeds
_RET_EPERM = 0x00050000 | errno.EPERM
_RET_KILL_PROCESS = 0x80000000
_X32_SYSCALL_BIT = 0x40000000
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
# struct seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8 * i (little-endian: low word first)
_NR, _ARCH = 0, 4


def _arg(i: int) -> int:
    return 16 + 8 * i


# machine -> (AUDIT_ARCH, ioctl nr, x32 calls share the arch, faked syscalls, mknod nr or
# None, mknodat nr)
_ARCHES: dict[str, tuple[int, int, bool, dict[str, int], int | None, int]] = {
    "x86_64": (
        0xC000003E,
        16,
        True,
        {
            "chown": 92, "fchown": 93, "lchown": 94, "fchownat": 260,
            "setuid": 105, "setgid": 106, "setreuid": 113, "setregid": 114,
            "setgroups": 116, "setresuid": 117, "setresgid": 119,
            "setfsuid": 122, "setfsgid": 123,
        },
        133,
        259,
    ),
    "aarch64": (
        0xC00000B7,
        29,
        False,
        {
            "fchownat": 54, "fchown": 55, "setregid": 143, "setgid": 144, "setreuid": 145,
            "setuid": 146, "setresuid": 147, "setresgid": 149, "setfsuid": 151,
            "setfsgid": 152, "setgroups": 159,
        },
        None,
        33,
    ),
}  # fmt: skip


def supported(machine: str | None = None) -> bool:
    return (machine or platform.machine()) in _ARCHES


def program(
    machine: str | None = None, *, fake_ids: bool = False
) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) instructions; `fake_ids`: tier 3's fake chown too."""
    arch, ioctl, x32, faked, mknod, mknodat = _ARCHES[machine or platform.machine()]
    # Symbolic program: ("jeq", k, label_true) jumps forward to a label when equal.
    prog: list[tuple[str, int, str]] = [("ld", _ARCH, ""), ("jne", arch, "kill"), ("ld", _NR, "")]
    if x32:
        prog.append(("jset", _X32_SYSCALL_BIT, "kill"))
    prog.append(("jeq", ioctl, "ioctl"))
    if fake_ids:
        prog += [("jeq", nr, "fake") for nr in sorted(faked.values())]
        if mknod is not None:
            prog.append(("jeq", mknod, "mknod"))
        prog.append(("jeq", mknodat, "mknodat"))
    prog += [("ret", _RET_ALLOW, ""), ("label", 0, "ioctl"), ("ld", _arg(1), "")]
    prog += [("jeq", TIOCSTI, "deny"), ("jeq", TIOCLINUX, "deny"), ("ret", _RET_ALLOW, "")]
    if fake_ids:
        if mknod is not None:
            prog += [("label", 0, "mknod"), ("ld", _arg(1), ""), ("jmp", 0, "mode")]
        prog += [("label", 0, "mknodat"), ("ld", _arg(2), ""), ("label", 0, "mode")]
        prog += [("and", 0o170000, ""), ("jeq", stat.S_IFCHR, "fake")]
        prog += [("jeq", stat.S_IFBLK, "fake"), ("ret", _RET_ALLOW, "")]
        prog += [("label", 0, "fake"), ("ret", _RET_ERRNO_0, "")]
    prog += [("label", 0, "deny"), ("ret", _RET_EPERM, "")]
    prog += [("label", 0, "kill"), ("ret", _RET_KILL_PROCESS, "")]
    return _assemble(prog)


def _assemble(prog: list[tuple[str, int, str]]) -> list[tuple[int, int, int, int]]:
    labels: dict[str, int] = {}
    pc = 0
    for op, _, name in prog:
        if op == "label":
            labels[name] = pc
        else:
            pc += 1
    out: list[tuple[int, int, int, int]] = []
    for op, k, name in prog:
        if op == "label":
            continue
        here = len(out)
        if op == "ld":
            out.append((_LD_W_ABS, 0, 0, k))
        elif op == "and":
            out.append((_AND_K, 0, 0, k))
        elif op == "ret":
            out.append((_RET_K, 0, 0, k))
        elif op == "jeq":
            out.append((_JEQ_K, labels[name] - here - 1, 0, k))
        elif op == "jset":
            out.append((_JSET_K, labels[name] - here - 1, 0, k))
        elif op == "jne":
            out.append((_JEQ_K, 0, labels[name] - here - 1, k))
        elif op == "jmp":  # BPF_JMP|BPF_JA: unconditional, offset in k
            out.append((0x05, 0, 0, labels[name] - here - 1))
    for _, jt, jf, _ in out:
        assert 0 <= jt < 256 and 0 <= jf < 256, "jump out of range"
    return out


def filter_bytes(machine: str | None = None, *, fake_ids: bool = False) -> bytes:
    prog = program(machine, fake_ids=fake_ids)
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


def install(*, fake_ids: bool = True) -> None:
    """Install the filter on this process (for tools run outside bwrap: tier 3's mmdebstrap)."""

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    data = filter_bytes(fake_ids=fake_ids)
    buf = ctypes.create_string_buffer(data, len(data))
    prog = SockFprog(len(data) // 8, ctypes.cast(buf, ctypes.c_void_p))
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


def memfd(*, fake_ids: bool = False) -> int:
    """An fd holding the filter, for `bwrap --seccomp FD` (inheritable)."""
    fd = os.memfd_create("devbox-seccomp", 0)
    os.write(fd, filter_bytes(fake_ids=fake_ids))
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    return fd


def exec_argv() -> list[str]:
    """A prefix that runs a command under tier 3's filter, for tools run outside bwrap (mmdebstrap):
    this file, run by a fresh Python that imports nothing of devbox, installs the filter on
    itself and execs the command. A program of its own, not code run between fork and exec (a
    `preexec_fn`), which can deadlock when the parent has threads (`devbox watch`)."""
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), "--"]


def _exec_filtered(argv: list[str]) -> None:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.exit("usage: seccomp.py -- COMMAND [ARG...]")
    try:
        install()
        os.execvp(argv[0], argv)
    except OSError as e:
        sys.stderr.write(f"devbox: cannot run {argv[0]} under the seccomp filter: {e}\n")
        sys.exit(127)


if __name__ == "__main__":
    _exec_filtered(sys.argv[1:])
