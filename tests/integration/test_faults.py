"""Interrupted builds leave the store as it was; a box never gets mounted twice."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from devbox.store.paths import project_id
from tests.helpers import Devbox, MakeProject, layer_dirs, wait_for_temp_layer

pytestmark = pytest.mark.integration

SLOW = '[box]\nbase = "debian:bookworm"\n[setup]\nrun = ["echo started; sleep 120"]\n'


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_build_leaves_the_store_as_it_was(
    devbox: Devbox, make_project: MakeProject, how: str
) -> None:
    project = make_project(f"interrupted {how}", SLOW)
    base_only = make_project(f"base for {how}", '[box]\nbase = "debian:bookworm"\n')
    devbox("build", cwd=base_only, check=True)
    before = layer_dirs(devbox.store)
    proc = devbox.popen(
        "build", cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    wait_for_temp_layer(devbox.store, proc)
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
    else:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err
    assert layer_dirs(devbox.store) == before
    assert not (project / "devbox.lock").exists()


def test_ctrl_c_on_a_terminal_says_it_is_stopping_and_a_second_one_is_safe(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project = make_project("ctrl-c twice", SLOW)
    devbox("build", cwd=make_project("base twice", '[box]\nbase = "debian:bookworm"\n'),
           check=True)  # fmt: skip
    before = layer_dirs(devbox.store)
    argv = devbox.argv("build")
    child = pexpect.spawn(argv[0], argv[1:], cwd=str(project), env=devbox.env(),
                          encoding="utf-8", timeout=120, dimensions=(24, 200))  # fmt: skip
    child.expect("started")  # the step's output on the status line: the layer is being built
    assert any(d.startswith(".tmp-") for d in layer_dirs(devbox.store))
    start = time.monotonic()
    child.sendintr()
    child.expect("stopping")
    said = time.monotonic() - start
    child.sendintr()  # impatient: a second Ctrl-C at once
    child.expect(pexpect.EOF)
    took = time.monotonic() - start
    child.close()
    out = str(child.before)
    assert child.exitstatus == 130, out
    assert said < 1 and took < 5, (said, took)
    assert "Traceback" not in out and "Permission denied" not in out, out
    assert layer_dirs(devbox.store) == before  # no temp layer left
    (project / "devbox.toml").write_text(SLOW.replace("sleep 120", "true"))
    devbox("build", cwd=project, check=True)


def test_a_box_whose_supervisor_died_is_not_mounted_again_under_live_sessions(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project = make_project("orphaned", '[box]\nbase = "debian:bookworm"\n')
    devbox("build", cwd=project, check=True)
    inside = project / "inside"
    session = devbox.popen(
        "run", "--", "sh", "-c", "touch inside; sleep 300", cwd=project, start_new_session=True
    )
    try:
        pid_file = devbox.store / "projects" / project_id(project) / "run" / "supervisor.pid"
        deadline = time.monotonic() + 60
        while not inside.exists() and time.monotonic() < deadline:  # the session is in the box
            time.sleep(0.05)
        assert inside.exists(), "the session never got into the box"
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        time.sleep(0.5)
        r = devbox("run", "--", "true", cwd=project)
        assert r.returncode == 1, r.stderr
        assert "lost its supervisor" in r.stderr and "Traceback" not in r.stderr
    finally:
        os.killpg(session.pid, signal.SIGKILL)
        session.wait()
    time.sleep(0.5)
    assert devbox("run", "--", "true", cwd=project).returncode == 0


def test_an_interrupted_bootstrap_leaves_no_layer_and_no_mount(
    devbox: Devbox, make_project: MakeProject, tmp_path: Path
) -> None:
    fresh = Devbox(tmp_path / "fresh store")
    project = make_project("bootstrap", '[box]\nbase = "debian:bookworm"\n')
    gpg_homes = set(Path("/tmp").glob("mmdebstrap.gpghome.*"))
    proc = fresh.popen(
        "build", cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    wait_for_temp_layer(fresh.store, proc)
    time.sleep(3)  # mmdebstrap is downloading or unpacking by now
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert layer_dirs(fresh.store) == set()
    assert set(Path("/tmp").glob("mmdebstrap.gpghome.*")) <= gpg_homes, "mmdebstrap litter in /tmp"
    mounts = Path("/proc/self/mounts").read_text()
    assert str(fresh.store).replace(" ", "\\040") not in mounts  # mounts escapes spaces


def _procs_mentioning(text: str) -> list[str]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmd:
                found.append(f"{d.name}: {cmd[:120]}")
    return found


def test_kill_9_mid_build_leaves_nothing_behind(
    devbox: Devbox, make_project: MakeProject, tmp_path: Path
) -> None:
    fresh = Devbox(tmp_path / "store k9")
    project = make_project("killed", '[box]\nbase = "debian:bookworm"\n[packages]\napt = ["jq"]\n')
    proc = fresh.popen(
        "build", cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    time.sleep(12)  # mid-bootstrap: mmdebstrap is downloading or unpacking
    os.killpg(proc.pid, signal.SIGKILL)  # devbox and its children
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 20
    while _procs_mentioning(str(fresh.store)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _procs_mentioning(str(fresh.store)) == [], "build tools outlived devbox"
    r = fresh("build", cwd=project)
    assert r.returncode == 0, r.stderr
    assert fresh("run", "--", "jq", "--version", cwd=project).returncode == 0
    assert not [d for d in layer_dirs(fresh.store) if d.startswith(".tmp-")]
    mounts = Path("/proc/self/mounts").read_text()
    assert str(fresh.store).replace(" ", "\\040") not in mounts


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=60m", "devbox-test", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_fails_cleanly_and_the_store_still_works(
    devbox: Devbox, make_project: MakeProject, small_disk: Path
) -> None:
    small = Devbox(small_disk / "store")
    project = make_project("full disk", '[box]\nbase = "debian:bookworm"\n')
    r = small("build", cwd=project)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "no space left on device" in r.stderr.lower() or "disk is full" in r.stderr
    assert str(small.store) in r.stderr, "the message says where"
    assert not [d for d in layer_dirs(small.store) if d.startswith(".tmp-")]
    assert small("status", cwd=project).returncode == 0
    gc = small("gc", cwd=project)
    assert gc.returncode == 0, gc.stderr
