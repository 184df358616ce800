"""A box cannot lift its own [limits]: code in it, as the user or as root in the box (`--root`),
cannot move itself out of the box's cgroups or write their limits (tier 1: /sys is read-only in
every session and no session has CAP_SYS_ADMIN to remount it), nor raise the rlimits devbox put
on it (tiers 2 and 3, where this machine delegates no cgroup to users: raising a hard limit
takes CAP_SYS_RESOURCE in the host's user namespace, which a box never has)."""

from __future__ import annotations

import time

import pytest

from devbox.sandbox import limits, sessions
from devbox.sandbox.host import Tier
from devbox.store.paths import ProjectPaths, project_id
from tests.security.actors import Actor

pytestmark = pytest.mark.integration

SPEC = """\
[box]
name = "{name}"
base = "debian:bookworm"

[limits]
memory = "256M"
pids = 64
"""
# Every way out a box might try, each saying so when it works
ESCAPE = r"""
for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/*/cgroup.procs; do
  [ -e "$f" ] && (echo $$ > "$f") 2>/dev/null && echo "ESCAPED to $f"
done
for f in /sys/fs/cgroup/*/*/devbox/* /sys/fs/cgroup/*/devbox/*; do
  for name in memory.limit_in_bytes memory.memsw.limit_in_bytes memory.max pids.max; do
    [ -e "$f/$name" ] && (echo max > "$f/$name") 2>/dev/null && echo "RAISED $f/$name"
    [ -e "$f/$name" ] && (echo 9000000000 > "$f/$name") 2>/dev/null && echo "RAISED $f/$name"
  done
  [ -e "$f/cgroup.procs" ] && (echo 1 > "$f/cgroup.procs") 2>/dev/null && echo "MOVED 1 to $f"
done
mkdir /sys/fs/cgroup/memory/escape 2>/dev/null && echo "MADE a cgroup"
(ulimit -v unlimited) 2>/dev/null && echo "LIFTED as"
(ulimit -p unlimited) 2>/dev/null && echo "LIFTED nproc"
echo "as=$(ulimit -v) nproc=$(ulimit -p)"
grep -E ':(memory|pids):' /proc/self/cgroup
"""


@pytest.mark.parametrize("root", [False, True], ids=["user", "root-in-box"])
def test_a_box_cannot_lift_its_limits(actor: Actor, root: bool) -> None:
    p = actor.project("limits", spec=SPEC.format(name="limits"))
    args = ("run", "--root", "--") if root else ("run", "--")
    r = actor.devbox(*args, "sh", "-c", ESCAPE, cwd=p)
    assert r.returncode == 0, r.stdout + r.stderr
    for word in ("ESCAPED", "RAISED", "MOVED", "MADE"):
        assert word not in r.stdout, r.stdout
    if actor.tier == 1:  # cgroup v1, as root: still in the box's own cgroups
        groups = [line for line in r.stdout.splitlines() if line[:1].isdigit()]
        assert len(groups) == 2 and all("/devbox/" in line for line in groups), r.stdout
        sessions.stop(ProjectPaths(actor.store() / "projects" / project_id(p)))
        key = limits.box_key(str(actor.store()), project_id(p))
        deadline = time.monotonic() + 10  # the supervisor is going: then its cgroups can
        while not limits.forget(Tier(1, 0, 0, "root"), key) and time.monotonic() < deadline:
            time.sleep(0.1)
    else:  # rlimits: still 256 MiB of address space, 64 processes of the user
        assert "LIFTED" not in r.stdout, r.stdout
        assert f"as={256 * 1024} nproc=64" in r.stdout, r.stdout
