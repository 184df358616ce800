"""[limits] as root (tier 1), held by the host's cgroup v1 memory, pids and cpu controllers: a
process that allocates 1 GiB in a box limited to 256 MiB is killed and devbox says so (from the
Python path and from the launcher), a fork loop stops at 64 processes and the box lives on, CPU
time is throttled to its quota, a changed limit takes effect at the next entry, and every
process of the box, its supervisor too, is in its cgroups (removed with the box's project). The
rootless side (rlimits: no cgroup is delegated to users here) is test_limits_rootless.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox.sandbox import cgroups, limits, sessions
from devbox.sandbox.host import Tier
from devbox.spec.model import Limits
from devbox.store.paths import ProjectPaths, project_id
from tests.helpers import Devbox, launch, write_project

pytestmark = pytest.mark.integration

LIMITS = Limits(memory=256 * 2**20, cpus=0.5, pids=64)
SPEC = """\
[box]
name = "limited"
base = "debian:bookworm"

[limits]
memory = "256M"
cpus = 0.5
pids = 64
"""
ALLOCATE = "head -c 1G /dev/zero | tail; echo tail=$?"  # tail holds a line of 1 GiB
FORK_LOOP = "n=0; while [ $n -lt 200 ]; do sleep 30 & n=$((n+1)); done; echo started $n"
QUICK = {"DEVBOX_LINGER": "2"}
SAYS = "devbox: the box hit its memory limit (256 MiB): the kernel killed a process in it"


def _places(devbox: Devbox, project: Path) -> dict[str, str]:
    return _paths(devbox.store, project)


def _paths(store: Path, project: Path) -> dict[str, str]:
    """The box's cgroup for each controller, as devbox finds it."""
    key = limits.box_key(str(store), project_id(project))
    held = limits.plan(LIMITS, Tier(1, 0, 0, "root"), key)
    return {c: p.path for p in held.places for c in p.controllers}


@pytest.fixture(scope="module")
def limited(shared_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One box for the module (its base is the integration tests' shared one)."""
    if not all(h.version == 1 for h in cgroups.host_hierarchies() if h.controllers):
        pytest.skip("this test is written for cgroup v1 controllers (this kind of machine)")
    project = write_project(tmp_path_factory.mktemp("limits") / "limited", SPEC)
    Devbox(shared_store)("run", "--", "true", cwd=project, env=QUICK, check=True)  # the launcher
    yield project
    sessions.stop(ProjectPaths(shared_store / "projects" / project_id(project)))
    key = limits.box_key(str(shared_store), project_id(project))
    deadline = time.monotonic() + 10  # the supervisor is going
    while not limits.forget(Tier(1, 0, 0, "root"), key) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(p).exists() for p in _paths(shared_store, project).values())


def test_the_box_and_its_supervisor_are_in_its_cgroups(devbox: Devbox, limited: Path) -> None:
    r = devbox("run", "--", "cat", "/proc/self/cgroup", cwd=limited, env=QUICK)
    assert r.returncode == 0, r.stderr
    places = _places(devbox, limited)
    assert sorted(places) == ["cpu", "memory", "pids"]
    key = limits.box_key(str(devbox.store), project_id(limited))
    for line in r.stdout.splitlines():  # the session's own cgroups, as the kernel says
        _, controllers, path = line.split(":", 2)
        if set(controllers.split(",")) & {"cpu", "memory", "pids"}:
            assert path.endswith(f"/devbox/{key}"), line
            assert places[next(c for c in places if c in controllers.split(","))].endswith(path)
    mem = Path(places["memory"])
    assert (mem / "memory.limit_in_bytes").read_text().strip() == str(256 * 2**20)
    assert (Path(places["pids"]) / "pids.max").read_text().strip() == "64"
    assert (Path(places["cpu"]) / "cpu.cfs_quota_us").read_text().strip() == "50000"
    p = ProjectPaths(devbox.store / "projects" / project_id(limited))
    pid = sessions.supervisor_pid(p)
    assert pid is not None and str(pid) in (mem / "cgroup.procs").read_text().split()
    doctor = devbox("doctor", cwd=limited)
    said = "memory 256 MiB (cgroup v1); pids 64 (cgroup v1); cpus 0.5 (cgroup v1)"
    assert f"limits in force  {said}" in doctor.stdout


@pytest.mark.parametrize("how", ["python", "launcher"])
def test_a_process_past_the_memory_limit_is_killed_and_devbox_says_so(
    devbox: Devbox, limited: Path, how: str
) -> None:
    if how == "python":
        r = devbox("run", "--", "sh", "-c", ALLOCATE, cwd=limited, env=QUICK)
    else:
        r = launch(devbox, limited, "sh", "-c", ALLOCATE, extra=QUICK)
    assert r.returncode == 0, r.stderr  # the command's status: echo's
    assert "tail=137" in r.stdout  # killed by SIGKILL
    assert SAYS in r.stderr
    r = launch(devbox, limited, "sh", "-c", "head -c 1G /dev/zero | tail", extra=QUICK)
    assert r.returncode == 137 and SAYS in r.stderr  # the status passes through
    r = launch(devbox, limited, "sh", "-c", "head -c 100M /dev/zero | tail | wc -c", extra=QUICK)
    assert r.returncode == 0 and r.stdout.strip() == str(100 * 2**20)
    assert "memory limit" not in r.stderr


def test_a_fork_loop_stops_at_the_pids_limit_and_the_box_lives_on(
    devbox: Devbox, limited: Path
) -> None:
    events = Path(_places(devbox, limited)["pids"]) / "pids.events"
    before = cgroups.count(str(events), "max")
    r = launch(devbox, limited, "sh", "-c", FORK_LOOP, extra=QUICK)
    assert r.returncode != 0 and "started" not in r.stdout
    assert "Cannot fork" in r.stderr, r.stderr
    assert cgroups.count(str(events), "max") > before  # the kernel refused forks, not us
    current = Path(_places(devbox, limited)["pids"]) / "pids.current"
    deadline = time.monotonic() + 20  # the ended session's processes are released soon after
    while int(current.read_text()) > 8 and time.monotonic() < deadline:
        time.sleep(0.1)
    r = launch(devbox, limited, "echo", "alive", extra=QUICK)
    assert r.returncode == 0 and r.stdout == "alive\n", r.stderr


def test_cpu_time_is_throttled_and_a_changed_limit_takes_effect(
    devbox: Devbox, limited: Path
) -> None:
    """Last in the module: the spec goes to a twentieth of a CPU, a quota (5 ms per 100 ms)
    that a spinning process exceeds however loaded this machine is."""
    cpu = Path(_places(devbox, limited)["cpu"])
    assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "50000"
    (limited / "devbox.toml").write_text(SPEC.replace("cpus = 0.5", "cpus = 0.05"))
    before = cgroups.count(str(cpu / "cpu.stat"), "nr_throttled")
    spin = "timeout 1 sh -c 'while :; do :; done'; echo $?"
    r = devbox("run", "--", "sh", "-c", spin, cwd=limited, env=QUICK)
    assert r.returncode == 0 and r.stdout == "124\n", r.stderr  # spun for its second
    assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "5000"
    assert cgroups.count(str(cpu / "cpu.stat"), "nr_throttled") > before  # it wanted more
