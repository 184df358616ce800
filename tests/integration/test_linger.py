"""An idle box lingers: after its last session the box stays mounted for
DEVBOX_LINGER seconds, so the next command joins it instead of mounting it again; `reset`, a
rebuilt layer and gc stop it when they must. Real bwrap, tier 1 (root); test_rootless.py covers
stopping a lingering box as an unprivileged user."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox.sandbox import sessions
from devbox.store.paths import ProjectPaths, project_id
from tests.helpers import Devbox, MakeProject, launch

pytestmark = pytest.mark.integration

LONG = {"DEVBOX_LINGER": "600"}  # longer than any test: only devbox can stop it
SPEC = """\
[box]
name = "linger"
base = "debian:bookworm"

[setup]
run = ["cat seed.txt > /etc/seeded"]
inputs = ["seed.txt"]
"""


@pytest.fixture
def lingering(devbox: Devbox, make_project: MakeProject) -> Iterator[Path]:
    project: Path = make_project("linger", SPEC, {"seed.txt": "seed-1\n"})
    r = devbox("run", "--", "sh", "-c", "echo one > /etc/mine", cwd=project, env=LONG)
    assert r.returncode == 0, r.stderr
    yield project
    sessions.stop(paths(devbox, project))  # not left up for its 600 s


def paths(devbox: Devbox, project: Path) -> ProjectPaths:
    return ProjectPaths(devbox.store / "projects" / project_id(project))


def gone(pid: int) -> bool:
    try:  # a zombie (not yet reaped by whoever started it) is gone too
        return not Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def test_the_next_command_joins_the_idle_box(devbox: Devbox, lingering: Path) -> None:
    p = paths(devbox, lingering)
    pid = sessions.supervisor_pid(p)
    assert pid is not None, "the box is still up after its only command ended"
    assert not sessions.inside(p)
    status = devbox("status", cwd=lingering, env=LONG)
    assert "running:  yes, idle" in status.stdout, status.stdout
    r = launch(devbox, lingering, "cat", "/etc/mine", extra=LONG)
    assert (r.returncode, r.stdout) == (0, "one\n"), r.stderr
    r = devbox("run", "--", "cat", "/etc/mine", cwd=lingering, env=LONG)
    assert (r.returncode, r.stdout) == (0, "one\n"), r.stderr
    assert sessions.supervisor_pid(p) == pid, "joined, not started again"


def test_reset_stops_the_idle_box_without_waiting_for_its_linger(
    devbox: Devbox, lingering: Path
) -> None:
    p = paths(devbox, lingering)
    pid = sessions.supervisor_pid(p)
    assert pid is not None
    r = devbox("reset", cwd=lingering, env=LONG, timeout=60)  # the linger is 600 s
    assert r.returncode == 0, r.stderr
    assert gone(pid) and sessions.supervisor_pid(p) is None
    r = devbox("run", "--", "cat", "/etc/mine", cwd=lingering, env=LONG)
    assert r.returncode != 0 and "No such file" in r.stderr, r


def test_reset_refuses_while_a_session_is_inside(devbox: Devbox, lingering: Path) -> None:
    holder = subprocess.Popen(
        devbox.argv("run", "--", "sleep", "600"), cwd=lingering, env=devbox.env(LONG),
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    p = paths(devbox, lingering)
    try:
        for _ in range(200):
            if sessions.inside(p):
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert sessions.inside(p)
        r = devbox("reset", cwd=lingering, env=LONG)
        assert r.returncode == 1 and "in use" in r.stderr, r
        status = devbox("status", cwd=lingering, env=LONG).stdout
        assert "running:  yes: 1 session\n" in status, status
    finally:
        holder.terminate()
        holder.wait()
    r = launch(devbox, lingering, "cat", "/etc/mine", extra=LONG)
    assert (r.returncode, r.stdout) == (0, "one\n"), "nothing was reset"


def test_a_layer_built_again_is_not_joined_while_the_old_one_lingers(
    devbox: Devbox, lingering: Path
) -> None:
    """The same digest in a new directory: the idle box still has the old one mounted, so it
    is stopped and mounted afresh (the writable layer goes with it, as after any rebuild)."""
    p = paths(devbox, lingering)
    pid = sessions.supervisor_pid(p)
    assert pid is not None
    info = json.loads((p.root / "project.json").read_text())
    top = devbox.store / "layers" / info["stack"][-1]
    subprocess.run(["rm", "-rf", str(top)], check=True)
    r = launch(devbox, lingering, "cat", "/etc/seeded", extra=LONG)
    assert (r.returncode, r.stdout) == (0, "seed-1\n"), r.stderr
    assert gone(pid)
    assert sessions.supervisor_pid(p) not in (None, pid)


def test_a_new_home_setting_is_not_joined_while_the_old_box_lingers(
    devbox: Devbox, lingering: Path
) -> None:
    """The home and the working tree are mounted once per box: a spec that mounts another home
    stops the idle box and mounts it afresh."""
    p = paths(devbox, lingering)
    pid = sessions.supervisor_pid(p)
    assert pid is not None
    marker = Path.home() / ".devbox-linger-test"
    marker.write_text("host home\n")
    try:
        spec = lingering / "devbox.toml"
        spec.write_text(spec.read_text() + '\n[shell]\nhome = "host"\n')
        r = launch(devbox, lingering, "cat", str(marker), extra=LONG)
        assert (r.returncode, r.stdout) == (0, "host home\n"), r.stderr
        assert gone(pid)
    finally:
        marker.unlink()
