"""How [limits] are held (devbox/sandbox/limits.py, cgroups.py): the host's cgroup hierarchies
read from /proc's text, the files each limit is written to, the fallback to rlimits, what is
said to be in force, the error or warning for a limit that cannot be held, and the argv that
puts a process in the box's cgroups. The real cgroups are tests/integration/test_limits*.py's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devbox.errors import DevboxError
from devbox.sandbox import cgroups, host, limits
from devbox.sandbox.host import Tier
from devbox.spec.model import Limits

# /proc/self/mountinfo of a hybrid host (v1 controllers, an empty unified hierarchy), and of a
# host with only cgroup v2
HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
HYBRID_SELF = """\
9:name=systemd:/user.slice
8:pids:/user.slice/user-0.slice
4:memory:/outer/devbox/0123456789abcdef
1:cpu,cpuacct:/
0::/user.slice
"""
UNIFIED = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
UNIFIED_SELF = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/term.scope\n"


def test_hierarchies_of_a_hybrid_host() -> None:
    found = cgroups.hierarchies(HYBRID, HYBRID_SELF)
    assert found == [
        cgroups.Hierarchy(1, "/sys/fs/cgroup/cpu,cpuacct", "", frozenset({"cpu"})),
        cgroups.Hierarchy(1, "/sys/fs/cgroup/memory", "/outer/devbox/0123456789abcdef",
                          frozenset({"memory"})),
        cgroups.Hierarchy(1, "/sys/fs/cgroup/pids", "/user.slice/user-0.slice",
                          frozenset({"pids"})),
        cgroups.Hierarchy(2, "/sys/fs/cgroup/unified", "/user.slice", frozenset()),
    ]  # fmt: skip


def test_hierarchies_of_a_unified_host_and_of_a_mount_of_a_subtree() -> None:
    assert cgroups.hierarchies(UNIFIED, UNIFIED_SELF) == [
        cgroups.Hierarchy(2, "/sys/fs/cgroup", UNIFIED_SELF[3:].strip(), frozenset())
    ]
    sub = "30 23 0:26 /user.slice /mnt/cg rw - cgroup2 cgroup2 rw\n"
    assert cgroups.hierarchies(sub, UNIFIED_SELF)[0].own.startswith("/user-1000.slice/")
    assert cgroups.hierarchies(sub, "0::/system.slice/x\n") == []  # not below the mount


def test_a_process_in_a_box_s_cgroup_makes_boxes_beside_it_not_in_it() -> None:
    assert cgroups.outside_box("/outer/devbox/0123456789abcdef") == "/outer"
    assert cgroups.outside_box("/outer/devbox.service") == "/outer/devbox.service"
    assert cgroups.outside_box("") == ""


def test_settings_for_each_limit() -> None:
    assert cgroups.settings_for(1, "memory", 2**28) == [
        ("memory.limit_in_bytes", "268435456"), ("memory.memsw.limit_in_bytes", "268435456")
    ]  # fmt: skip
    assert cgroups.settings_for(2, "memory", 2**28) == [
        ("memory.max", "268435456"), ("memory.swap.max", "0")
    ]  # fmt: skip
    assert cgroups.settings_for(1, "pids", 64) == [("pids.max", "64")]
    assert cgroups.settings_for(1, "cpu", 1.5) == [
        ("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "150000")
    ]  # fmt: skip
    assert cgroups.settings_for(2, "cpu", 0.25) == [("cpu.max", "25000 100000")]


def test_the_oom_count_is_read_from_a_flat_keyed_file(tmp_path: Path) -> None:
    f = tmp_path / "memory.oom_control"
    f.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert cgroups.count(str(f), "oom_kill") == 3
    assert cgroups.count(str(tmp_path / "missing"), "oom_kill") == 0


# A user who owns no cgroup anywhere: no delegation, whatever this host has
NOBODY = Tier(3, 1999999, 1999999, "nobody-here")


def test_without_a_cgroup_memory_and_pids_fall_back_to_rlimits() -> None:
    held = limits.plan(Limits(memory=256 * 2**20, pids=64, strict=False), NOBODY, "k")
    assert held.places == ()
    assert held.rlimits == (("as", 256 * 2**20), ("nproc", 64))
    assert held.lines == ("memory 256 MiB (rlimit, per process: address space)",
                          "pids 64 (rlimit, per user)")  # fmt: skip
    assert held.missing == ()
    assert held.oom_file is None  # an rlimit kills nothing: nothing to report


def test_cpus_without_a_cgroup_is_an_error_naming_it_and_the_fix() -> None:
    held = limits.plan(Limits(cpus=1.5), NOBODY, "k")
    assert held.lines == (
        "cpus 1.5: not enforced (no cgroup with the cpu controller delegated to nobody-here, "
        "and no rlimit)",
    )
    with pytest.raises(DevboxError) as info:
        limits.check(held, None)
    assert info.value.message.startswith("[limits] cannot be enforced here: cpus 1.5: no cgroup")
    assert "strict = false" in (info.value.hint or "")
    with pytest.raises(DevboxError):  # nor is a launcher written that would run without it
        limits.launcher_values(held)


def test_with_strict_false_it_is_one_warning_line() -> None:
    said: list[str] = []

    class Display:
        def info(self, text: str) -> None:
            said.append(text)

    limits.check(limits.plan(Limits(cpus=2, strict=False), NOBODY, "k"), Display())
    assert said == [
        "devbox: warning: [limits] cpus 2 not enforced here (cpus 2: no cgroup with the cpu "
        "controller delegated to nobody-here, and no rlimit)"
    ]


def test_root_without_a_cgroup_cannot_limit_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "host_hierarchies", list)  # as in a container without cgroups
    held = limits.plan(Limits(memory=2**30, pids=100), Tier(1, 0, 0, "root"), "k")
    assert held.rlimits == (("as", 2**30),)
    assert held.missing == (("pids 100", "no writable cgroup with the pids controller"),)


def test_no_limits_hold_nothing_and_cost_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "host_hierarchies", lambda: pytest.fail("read /proc"))
    held = limits.plan(Limits(strict=False), Tier(1, 0, 0, "root"), "k")
    assert held.lines == () and limits.identity(held) == ""
    assert limits.wrap(held, ["x"]) == ["x"]
    assert all(v == "" for v in limits.launcher_values(held).values())
    assert limits.in_force(Limits(), NOBODY) == []


def test_in_force_says_the_size_as_people_read_it() -> None:
    assert limits.in_force(Limits(memory=2 * 2**30), NOBODY) == [
        "memory 2 GiB (rlimit, per process: address space)"
    ]
    assert limits.mib(1536 * 2**20) == "1536 MiB"


def test_the_join_wrapper_writes_its_pid_then_execs(tmp_path: Path) -> None:
    place = cgroups.Place(1, str(tmp_path), str(tmp_path / "box"), ("pids",), ())
    (tmp_path / "box").mkdir()
    held = limits.Enforcement(Limits(pids=64), (place,))
    argv = limits.wrap(held, ["/bin/sh", "-c", 'echo "$$"'])
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert (tmp_path / "box" / "cgroup.procs").read_text() == out
    missing = str(tmp_path / "gone" / "box")  # after a reboot
    gone = limits.Enforcement(Limits(pids=64), (cgroups.Place(1, "/", missing, (), ()),))
    r = subprocess.run(limits.wrap(gone, ["true"]), capture_output=True, check=False)
    assert r.returncode == 125  # not run outside its cgroup


def test_rlimits_are_put_on_the_session_by_prlimit() -> None:
    held = limits.plan(Limits(memory=256 * 2**20, pids=64), NOBODY, "k")
    argv = limits.wrap(held, ["/bin/sh", "-c", "ulimit -v; ulimit -p"])
    assert argv[0] == host.tool("prlimit")
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(256 * 1024), "64"]
    assert limits.wrap(held, ["true"], rlimits=False) == ["true"]  # the supervisor: none
