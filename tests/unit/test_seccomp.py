"""The sessions' seccomp filter (no TIOCSTI/TIOCLINUX, no other syscall ABI) and tier 3's fake
chown in it: its shape, its verdicts (through a small BPF interpreter written here), and the real
thing installed in a forked child."""

from __future__ import annotations

import errno
import fcntl
import os
import platform
import shlex
import stat
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from devbox.sandbox import seccomp

ALLOW = 0x7FFF0000
FAKE = 0x00050000  # SECCOMP_RET_ERRNO | 0: the call "succeeds"
DENY = 0x00050000 | errno.EPERM
KILL = 0x80000000  # SECCOMP_RET_KILL_PROCESS

LD_W_ABS, JEQ_K, JSET_K, JA, AND_K, RET_K = 0x20, 0x15, 0x45, 0x05, 0x54, 0x06
TIOCSTI, TIOCLINUX, TCGETS, FIONREAD = 0x5412, 0x541C, 0x5401, 0x541B
IOCTL = {"x86_64": 16, "aarch64": 29}
X32 = 0x40000000

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
AUDIT_ARCH_I386 = 0x40000003

# Syscall numbers from the kernel's tables (arch/x86/entry/syscalls/syscall_64.tbl and
# include/uapi/asm-generic/unistd.h), written out rather than taken from the module.
FAKED = {
    "x86_64": {
        "chown": 92, "fchown": 93, "lchown": 94, "fchownat": 260,
        "setuid": 105, "setgid": 106, "setreuid": 113, "setregid": 114, "setgroups": 116,
        "setresuid": 117, "setresgid": 119, "setfsuid": 122, "setfsgid": 123,
    },
    "aarch64": {
        "fchownat": 54, "fchown": 55, "setregid": 143, "setgid": 144, "setreuid": 145,
        "setuid": 146, "setresuid": 147, "setresgid": 149, "setfsuid": 151, "setfsgid": 152,
        "setgroups": 159,
    },
}  # fmt: skip
MKNOD = {"x86_64": 133, "aarch64": None}
MKNODAT = {"x86_64": 259, "aarch64": 33}
# calls that must pass through untouched
ALLOWED = {
    "x86_64": {"read": 0, "write": 1, "openat": 257, "getuid": 102, "getgroups": 115, "chmod": 90},
    "aarch64": {
        "read": 63, "write": 64, "openat": 56, "getuid": 174, "getgroups": 158, "fchmodat": 53,
        "rt_sigsuspend": 133,  # x86_64's mknod number: nothing special on aarch64
    },
}  # fmt: skip

MACHINES = ["x86_64", "aarch64"]
Insn = tuple[int, int, int, int]


def seccomp_data(nr: int, arch: int, *args: int) -> bytes:
    """struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]."""
    padded = [*args, 0, 0, 0, 0, 0, 0][:6]
    return struct.pack("<iIQ6Q", nr, arch, 0x400000, *padded)


def run_bpf(prog: list[Insn], data: bytes) -> int:
    """Classic BPF, just the instructions a seccomp filter of ours may use."""
    assert len(data) == 64
    a = 0
    pc = 0
    for _ in range(len(prog) + 1):  # jumps only go forward
        assert 0 <= pc < len(prog), f"pc {pc} left the program"
        code, jt, jf, k = prog[pc]
        if code == LD_W_ABS:
            assert k % 4 == 0 and k + 4 <= len(data), f"bad load offset {k}"
            a = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code == JEQ_K:
            pc += 1 + (jt if a == k else jf)
        elif code == JSET_K:
            pc += 1 + (jt if a & k else jf)
        elif code == JA:
            pc += 1 + k
        elif code == AND_K:
            a &= k
            pc += 1
        elif code == RET_K:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x} at {pc}")
    raise AssertionError("the program did not return")


def verdict(
    machine: str, nr: int, *args: int, arch: int | None = None, fake_ids: bool = True
) -> int:
    data = seccomp_data(nr, AUDIT_ARCH[machine] if arch is None else arch, *args)
    return run_bpf(seccomp.program(machine, fake_ids=fake_ids), data)


def fake(machine: str) -> list[Insn]:
    return seccomp.program(machine, fake_ids=True)


def target(prog: list[Insn], pc: int, taken: bool) -> int:
    code, jt, jf, k = prog[pc]
    if code == JA:
        return pc + 1 + k
    return pc + 1 + (jt if taken else jf)


# -- shape ---------------------------------------------------------------------------------------


def test_supported_machines() -> None:
    assert seccomp.supported("x86_64")
    assert seccomp.supported("aarch64")
    assert not seccomp.supported("riscv64")
    assert not seccomp.supported("i686")


def test_an_unsupported_machine_has_no_program() -> None:
    with pytest.raises(KeyError):
        seccomp.program("riscv64")


@pytest.mark.parametrize("fake_ids", [False, True])
@pytest.mark.parametrize("machine", MACHINES)
def test_first_the_arch_is_checked_and_a_foreign_arch_is_killed(
    machine: str, fake_ids: bool
) -> None:
    prog = seccomp.program(machine, fake_ids=fake_ids)
    assert prog[0] == (LD_W_ABS, 0, 0, 4)
    code, jt, _, k = prog[1]
    assert (code, jt, k) == (JEQ_K, 0, AUDIT_ARCH[machine])
    assert prog[target(prog, 1, taken=False)] == (RET_K, 0, 0, KILL)
    assert prog[2] == (LD_W_ABS, 0, 0, 0)  # then the syscall number


@pytest.mark.parametrize("fake_ids", [False, True])
@pytest.mark.parametrize("machine", MACHINES)
def test_every_jump_lands_inside_the_program_and_it_ends_in_a_return(
    machine: str, fake_ids: bool
) -> None:
    prog = seccomp.program(machine, fake_ids=fake_ids)
    assert 0 < len(prog) <= 4096  # BPF_MAXINSNS
    for pc, (code, jt, jf, k) in enumerate(prog):
        assert code in (LD_W_ABS, JEQ_K, JSET_K, JA, AND_K, RET_K)
        assert 0 <= jt <= 255 and 0 <= jf <= 255
        if code in (JEQ_K, JSET_K):
            assert pc + 1 + jt < len(prog) and pc + 1 + jf < len(prog)
        elif code == JA:
            assert pc + 1 + k < len(prog)
        else:
            assert (jt, jf) == (0, 0)
        if code == LD_W_ABS:
            assert k in (0, 4, 16 + 8 * 1, 16 + 8 * 2)
    assert prog[-1][0] == RET_K
    returns = {ins[3] for ins in prog if ins[0] == RET_K}
    assert returns == ({ALLOW, FAKE, DENY, KILL} if fake_ids else {ALLOW, DENY, KILL})


@pytest.mark.parametrize("machine", MACHINES)
def test_every_faked_syscall_jumps_to_a_fake_success(machine: str) -> None:
    prog = fake(machine)
    numbers = {ins[3]: pc for pc, ins in enumerate(prog) if ins[0] == JEQ_K and pc > 2}
    for name, nr in FAKED[machine].items():
        assert nr in numbers, name
        assert prog[target(prog, numbers[nr], taken=True)] == (RET_K, 0, 0, FAKE), name


@pytest.mark.parametrize("machine", MACHINES)
def test_mknod_calls_check_the_file_type_of_their_mode_argument(machine: str) -> None:
    prog = fake(machine)
    calls = [(MKNODAT[machine], 2)]
    mknod = MKNOD[machine]
    if mknod is not None:
        calls.append((mknod, 1))
    for nr, arg in calls:
        (pc,) = [pc for pc, ins in enumerate(prog) if pc > 2 and ins[0] == JEQ_K and ins[3] == nr]
        pc = target(prog, pc, taken=True)
        assert prog[pc] == (LD_W_ABS, 0, 0, 16 + 8 * arg)
        pc += 1
        if prog[pc][0] == JA:
            pc = target(prog, pc, taken=True)
        assert prog[pc] == (AND_K, 0, 0, 0o170000)  # S_IFMT
        checked = []
        pc += 1
        while prog[pc][0] == JEQ_K:
            checked.append(prog[pc][3])
            assert prog[target(prog, pc, taken=True)] == (RET_K, 0, 0, FAKE)
            pc = target(prog, pc, taken=False)
        assert sorted(checked) == sorted([stat.S_IFCHR, stat.S_IFBLK])
        assert prog[pc] == (RET_K, 0, 0, ALLOW)


@pytest.mark.parametrize("machine", MACHINES)
@pytest.mark.parametrize("fake_ids", [False, True])
def test_filter_bytes_are_8_bytes_per_instruction(machine: str, fake_ids: bool) -> None:
    prog = seccomp.program(machine, fake_ids=fake_ids)
    data = seccomp.filter_bytes(machine, fake_ids=fake_ids)
    assert len(data) == 8 * len(prog)
    assert list(struct.iter_unpack("=HBBI", data)) == prog


@pytest.mark.skipif(sys.byteorder != "little", reason="little-endian layout")
def test_filter_bytes_layout_is_struct_sock_filter() -> None:
    data = seccomp.filter_bytes("x86_64")
    # {u16 code; u8 jt; u8 jf; u32 k}: ld [4], then jeq AUDIT_ARCH_X86_64
    assert data[:8] == b"\x20\x00\x00\x00\x04\x00\x00\x00"
    assert data[8:10] == b"\x15\x00" and data[12:16] == b"\x3e\x00\x00\xc0"


def test_the_default_machine_is_this_one_and_the_default_filter_fakes_nothing() -> None:
    if not seccomp.supported():
        pytest.skip(f"no filter for {platform.machine()}")
    assert seccomp.program() == seccomp.program(platform.machine(), fake_ids=False)
    assert seccomp.filter_bytes() == seccomp.filter_bytes(platform.machine())


# -- verdicts, through the interpreter -----------------------------------------------------------


def test_x86_64_verdicts() -> None:
    m = "x86_64"
    assert verdict(m, 92) == FAKE  # chown
    assert verdict(m, 260) == FAKE  # fchownat
    assert verdict(m, 105) == FAKE  # setuid
    assert verdict(m, 116) == FAKE  # setgroups
    assert verdict(m, 133, 0x1000, stat.S_IFCHR | 0o666, 0x103) == FAKE  # mknod, char device
    assert verdict(m, 133, 0x1000, stat.S_IFBLK | 0o660, 0x801) == FAKE  # mknod, block device
    assert verdict(m, 133, 0x1000, stat.S_IFIFO | 0o644) == ALLOW  # mknod, fifo
    assert verdict(m, 133, 0x1000, stat.S_IFREG | 0o644) == ALLOW  # mknod, regular file
    assert verdict(m, 133, 0x1000, stat.S_IFSOCK | 0o644) == ALLOW
    assert verdict(m, 259, 0xFFFFFF9C, 0x1000, stat.S_IFCHR | 0o600) == FAKE  # mknodat
    assert verdict(m, 259, 0xFFFFFF9C, 0x1000, stat.S_IFBLK) == FAKE
    assert verdict(m, 259, 0xFFFFFF9C, 0x1000, stat.S_IFIFO | 0o600) == ALLOW
    assert verdict(m, 259, 0xFFFFFF9C, 0x1000, stat.S_IFREG) == ALLOW
    assert verdict(m, 0) == ALLOW  # read
    assert verdict(m, 92, arch=AUDIT_ARCH_I386) == KILL  # another ABI: not at all
    assert verdict(m, 92, arch=AUDIT_ARCH["aarch64"]) == KILL
    assert verdict(m, 92 | X32) == KILL  # x32 calls come as x86_64 with bit 30 set
    assert verdict(m, 0 | X32) == KILL


@pytest.mark.parametrize("machine", MACHINES)
def test_every_faked_call_is_faked_whatever_its_arguments(machine: str) -> None:
    for name, nr in FAKED[machine].items():
        assert verdict(machine, nr) == FAKE, name
        assert verdict(machine, nr, 1, 12345, 12345, 0xFFFFFFFF) == FAKE, name


@pytest.mark.parametrize("machine", MACHINES)
def test_other_calls_are_allowed(machine: str) -> None:
    for name, nr in ALLOWED[machine].items():
        assert verdict(machine, nr, 1, stat.S_IFCHR, stat.S_IFCHR) == ALLOW, name


@pytest.mark.parametrize("machine", MACHINES)
def test_mknodat_reads_the_mode_from_its_third_argument(machine: str) -> None:
    nr = MKNODAT[machine]
    assert verdict(machine, nr, 0xFFFFFF9C, 0x1000, stat.S_IFCHR | 0o600, 0x103) == FAKE
    # a char-device-looking value elsewhere does not count
    assert verdict(machine, nr, stat.S_IFCHR, 0x1000, stat.S_IFIFO, stat.S_IFCHR) == ALLOW
    assert verdict(machine, nr, stat.S_IFBLK, stat.S_IFCHR, stat.S_IFREG) == ALLOW


def test_x86_64_mknod_reads_the_mode_from_its_second_argument() -> None:
    assert verdict("x86_64", 133, stat.S_IFIFO, stat.S_IFCHR, stat.S_IFIFO) == FAKE
    assert verdict("x86_64", 133, stat.S_IFCHR, stat.S_IFIFO, stat.S_IFCHR) == ALLOW


@pytest.mark.parametrize("fake_ids", [False, True])
@pytest.mark.parametrize("machine", MACHINES)
def test_a_foreign_arch_is_killed_whatever_it_calls(machine: str, fake_ids: bool) -> None:
    for nr in [0, 54, *FAKED[machine].values(), MKNODAT[machine], IOCTL[machine]]:
        got = verdict(machine, nr, 0, TIOCSTI, arch=AUDIT_ARCH_I386, fake_ids=fake_ids)
        assert got == KILL, nr


@pytest.mark.parametrize("fake_ids", [False, True])
@pytest.mark.parametrize("machine", MACHINES)
def test_tiocsti_and_tioclinux_are_denied_by_their_low_32_bits(
    machine: str, fake_ids: bool
) -> None:
    nr = IOCTL[machine]

    def ioctl(request: int) -> int:
        return verdict(machine, nr, 0, request, 0x7FFC0000, fake_ids=fake_ids)

    assert ioctl(TIOCSTI) == DENY
    assert ioctl(TIOCLINUX) == DENY
    assert ioctl(TIOCSTI | 1 << 32) == DENY  # the kernel takes the request as an unsigned int
    assert ioctl(TIOCLINUX | 0xFFFFFFFF << 32) == DENY
    assert ioctl(TCGETS) == ALLOW
    assert ioctl(FIONREAD) == ALLOW
    assert ioctl(TIOCSTI + (1 << 16)) == ALLOW
    # the request is the second argument, not the first or third
    assert verdict(machine, nr, TIOCSTI, TCGETS, TIOCSTI, fake_ids=fake_ids) == ALLOW


@pytest.mark.parametrize("machine", MACHINES)
def test_without_fake_ids_chown_and_setuid_are_left_to_the_kernel(machine: str) -> None:
    for name, nr in FAKED[machine].items():
        assert verdict(machine, nr, 1, 2, 3, fake_ids=False) == ALLOW, name
    got = verdict(machine, MKNODAT[machine], 0xFFFFFF9C, 0x1000, stat.S_IFCHR, fake_ids=False)
    assert got == ALLOW


def test_aarch64_verdicts() -> None:
    m = "aarch64"
    assert verdict(m, 54) == FAKE  # fchownat
    assert verdict(m, 146) == FAKE  # setuid
    assert verdict(m, 159) == FAKE  # setgroups
    assert verdict(m, 33, 0xFFFFFF9C, 0x1000, stat.S_IFCHR) == FAKE  # mknodat
    assert verdict(m, 33, 0xFFFFFF9C, 0x1000, stat.S_IFIFO) == ALLOW
    assert verdict(m, 63) == ALLOW  # read
    assert verdict(m, 92) == ALLOW  # personality here, x86_64's chown
    assert verdict(m, 54, arch=AUDIT_ARCH["x86_64"]) == KILL
    assert verdict(m, 54, arch=0x40000028) == KILL  # AUDIT_ARCH_ARM: 32-bit compat calls


# -- the real thing ------------------------------------------------------------------------------


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "aarch64"), reason="no filter for this machine"
)
def test_installed_filter_fakes_chown_and_device_nodes_but_makes_fifos(tmp_path: Path) -> None:
    victim = tmp_path / "file"
    victim.write_text("")
    fifo = tmp_path / "fifo"
    device = tmp_path / "null"
    uid = os.stat(victim).st_uid
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        code = 99
        try:
            seccomp.install()
            code = 10
            os.chown(victim, 12345, 12345)  # EPERM for a normal user without the filter
            code = 11
            if os.stat(victim).st_uid != uid:  # as root it would really have changed
                raise SystemExit
            code = 12
            os.mkfifo(fifo)
            code = 13
            if not stat.S_ISFIFO(os.stat(fifo).st_mode):
                raise SystemExit
            code = 14
            os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
            code = 15
            if os.path.lexists(device):  # faked: nothing was made
                raise SystemExit
            code = 16
            os.setgroups([])
            os.setuid(12345)
            code = 17
            if os.getuid() != uid:  # faked: still who we were
                raise SystemExit
            code = 0
        except BaseException:
            pass
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status)
    code = os.WEXITSTATUS(status)
    steps = {
        99: "install() failed",
        10: "chown raised",
        11: "chown had an effect",
        12: "mkfifo raised",
        13: "mkfifo made no fifo",
        14: "mknod of a char device raised",
        15: "mknod of a char device made a file",
        16: "setgroups/setuid raised",
        17: "setuid had an effect",
    }
    assert code == 0, steps.get(code, code)
    assert os.stat(victim).st_uid == uid  # and the parent is unfiltered: nothing leaked


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="no memfd_create")
def test_memfd_holds_the_filter_from_the_start_and_is_inheritable() -> None:
    if not seccomp.supported():
        pytest.skip(f"no filter for {platform.machine()}")
    fd = seccomp.memfd()
    try:
        assert os.get_inheritable(fd)
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0
        assert os.read(fd, 1 << 16) == seccomp.filter_bytes()
    finally:
        os.close(fd)
    fd = seccomp.memfd(fake_ids=True)
    try:
        assert os.read(fd, 1 << 16) == seccomp.filter_bytes(fake_ids=True)
    finally:
        os.close(fd)


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "aarch64"), reason="no filter for this machine"
)
@pytest.mark.parametrize("fake_ids", [False, True])
def test_installed_filter_refuses_tiocsti_on_a_terminal(fake_ids: bool) -> None:
    """The real kernel: TIOCSTI on our own terminal (a pty) is refused with EPERM, also with
    high bits in the request; other terminal ioctls still work; nothing reaches the input."""
    master, slave = os.openpty()
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        code = 99
        try:
            seccomp.install(fake_ids=fake_ids)
            code = 10
            fcntl.ioctl(slave, termios.TCGETS, bytes(64))
            for step, request in ((11, termios.TIOCSTI), (12, termios.TIOCSTI | 1 << 32)):
                code = step
                try:
                    fcntl.ioctl(slave, request, b"x")
                except PermissionError:
                    continue
                raise SystemExit
            code = 0
        except BaseException:
            pass
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    os.set_blocking(master, False)
    try:
        pushed = os.read(master, 100)  # an injected char would be echoed back here
    except BlockingIOError:
        pushed = b""
    os.close(master)
    os.close(slave)
    steps = {99: "install() failed", 10: "TCGETS failed", 11: "TIOCSTI", 12: "TIOCSTI | 1 << 32"}
    assert os.WEXITSTATUS(status) == 0, steps.get(os.WEXITSTATUS(status))
    assert pushed == b""


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "aarch64"), reason="no filter for this machine"
)
def test_exec_argv_runs_a_command_under_the_filter(tmp_path: Path) -> None:
    """How tier 3 runs mmdebstrap: a fresh Python installs the filter and execs the command."""
    victim = tmp_path / "file"
    victim.write_text("")
    uid = os.stat(victim).st_uid
    script = (
        f"grep '^Seccomp:' /proc/self/status; chown 12345 {shlex.quote(str(victim))} && echo ok"
    )
    r = subprocess.run(
        [*seccomp.exec_argv(), "sh", "-c", script],
        env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["Seccomp:", "2", "ok"]  # 2: a filter
    assert os.stat(victim).st_uid == uid  # faked


def test_exec_argv_says_when_the_command_cannot_run() -> None:
    r = subprocess.run([*seccomp.exec_argv(), "/nonexistent/tool"], capture_output=True, text=True)
    assert r.returncode == 127
    assert "cannot run /nonexistent/tool under the seccomp filter" in r.stderr
