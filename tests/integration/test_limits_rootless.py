"""[limits] as created unprivileged users, one with a subuid range (tier 2) and one without (tier
3). This machine has cgroup v1 controllers only (root's) and an empty unified hierarchy: no
cgroup is delegated to users, so what is tested here is the fallback, rlimits: memory as
RLIMIT_AS (a process cannot map past 256 MiB: the allocation fails, nothing is killed) and pids
as RLIMIT_NPROC (a fork loop stops at 64 processes of the user and the box lives on); cpus has
no rlimit, so it is an error with strict (the default) and one warning line without."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.rootless import TEST_USER_PREFIX, User, make_user, runtime, users_scratch

pytestmark = pytest.mark.integration

NAMES = {
    True: f"{TEST_USER_PREFIX}limsub-{os.getpid()}",
    False: f"{TEST_USER_PREFIX}limnone-{os.getpid()}",
}
SPEC = """\
[box]
base = "debian:bookworm"

[limits]
memory = "256M"
pids = 64
"""
QUICK = {"DEVBOX_LINGER": "1"}  # the box goes soon after: the user can be removed
FORK_LOOP = "n=0; while [ $n -lt 200 ]; do sleep 30 & n=$((n+1)); done; echo started $n"


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    yield from users_scratch(
        list(NAMES.values()), "creating test users needs root (CI runs as root)"
    )


@pytest.mark.parametrize("subids", [True, False], ids=["tier2", "tier3"])
def test_rlimits_hold_memory_and_pids_for_a_user_without_cgroups(base: Path, subids: bool) -> None:
    user: User = make_user(NAMES[subids], base, runtime(base), subids=subids)
    project = base / f"work-{user.name}" / "proj"
    project.mkdir(parents=True)
    (project / "devbox.toml").write_text(SPEC)
    user.own(project.parent)

    def run(*argv: str) -> tuple[int, str, str]:
        r = user.devbox("run", "--", *argv, cwd=project, env=QUICK)
        return r.returncode, r.stdout, r.stderr

    code, out, err = run("sh", "-c", "head -c 1G /dev/zero | tail; echo tail=$?")
    assert code == 0 and "tail=1" in out, err  # refused its memory, not killed
    assert "memory exhausted" in err and "memory limit" not in err
    code, out, err = run("sh", "-c", "head -c 100M /dev/zero | tail | wc -c")
    assert code == 0 and out.strip() == str(100 * 2**20), err

    code, out, err = run("sh", "-c", FORK_LOOP)
    assert code != 0 and "started" not in out and "Cannot fork" in err, (out, err)
    for _ in range(20):  # the loop's processes are released a moment after its session ends
        code, out, err = run("echo", "alive")
        if code == 0:
            break
        time.sleep(0.5)
    assert (code, out) == (0, "alive\n"), err  # the box lives on

    doctor = user.devbox("doctor", cwd=project).stdout
    said = "memory by rlimit, per process: address space; pids by rlimit, per user; cpus cannot"
    assert f"--  limits           {said} be limited here" in doctor, doctor
    in_force = "memory 256 MiB (rlimit, per process: address space); pids 64 (rlimit, per user)"
    assert f"ok  limits in force  {in_force}" in doctor, doctor

    (project / "devbox.toml").write_text(SPEC + "cpus = 1\n")
    code, out, err = run("echo", "ran")
    assert code == 1 and out == "", err
    assert err.startswith(
        "devbox: error: [limits] cannot be enforced here: cpus 1: no cgroup with the cpu "
        f"controller delegated to {user.name}, and no rlimit\n"
    ), err
    assert "strict = false" in err
    assert run("echo", "ran")[:2] == (1, "")  # again: no launcher was left to run it without
    (project / "devbox.toml").write_text(SPEC + "cpus = 1\nstrict = false\n")
    code, out, err = run("echo", "ran")
    assert (code, out) == (0, "ran\n"), err
    warning = "devbox: warning: [limits] cpus 1 not enforced here (cpus 1: no cgroup with the cpu"
    assert [line for line in err.splitlines() if line.startswith("devbox:")] == [
        f"{warning} controller delegated to {user.name}, and no rlimit)"
    ]
