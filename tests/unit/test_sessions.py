"""The supervisor's session protocol, for real: SUPERVISOR_SCRIPT under /bin/sh with a sessions
FIFO, against sessions.py, with `mount` and `umount` that only log (no root needed)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devbox.sandbox import sessions
from devbox.sandbox.supervisor import supervisor_argv
from devbox.store.paths import ProjectPaths


class Box:
    def __init__(self, tmp_path: Path) -> None:
        self.paths = ProjectPaths(tmp_path / "project")
        self.merged = tmp_path / "merged"
        (self.merged / "etc").mkdir(parents=True)
        for name in ("passwd", "group"):
            (self.merged / "etc" / name).write_text("root:x:0:\n")
        self.paths.run.mkdir(parents=True)
        sessions.ensure_fifo(self.paths)
        self.log = tmp_path / "mounts.log"
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for tool in ("mount", "umount"):
            (bin_dir / tool).write_text(f'#!/bin/sh\necho {tool} "$@" >> {self.log}\n')
            (bin_dir / tool).chmod(0o755)
        self.env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LC_ALL": "C"}
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, linger: int) -> subprocess.Popen[bytes]:
        p = self.paths
        argv = supervisor_argv(
            "unshare", None, str(self.merged.parent), "o", str(self.merged),
            str(p.supervisor_pid), str(p.sessions), str(p.start_lock), str(linger),
        )  # fmt: skip
        proc = subprocess.Popen(
            argv[argv.index("/bin/sh") :], env=self.env, start_new_session=True,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self.procs.append(proc)
        wait_for(lambda: sessions.supervisor_pid(p) == proc.pid, "the supervisor to be ready")
        return proc

    def unmounted(self) -> bool:
        return self.log.exists() and "umount" in self.log.read_text()


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    b = Box(tmp_path)
    yield b
    for proc in b.procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_it_stays_while_a_session_holds_the_fifo_and_goes_after_it(box: Box) -> None:
    fd = sessions.hold(box.paths)
    proc = box.start(linger=0)
    assert sessions.inside(box.paths)
    time.sleep(0.5)
    assert proc.poll() is None and not box.unmounted()
    os.close(fd)
    proc.wait(timeout=10)
    assert box.unmounted()
    assert not box.paths.supervisor_pid.exists()
    assert not sessions.inside(box.paths)


def test_an_idle_box_lingers_and_an_arrival_starts_the_count_again(box: Box) -> None:
    proc = box.start(linger=2)
    time.sleep(1.2)
    os.close(sessions.hold(box.paths))  # a command that came and went
    time.sleep(1.5)  # 2.7 s after the start, but only 1.5 s after the last arrival
    assert proc.poll() is None and not box.unmounted()
    proc.wait(timeout=10)
    assert box.unmounted()
    assert not box.paths.supervisor_pid.exists()


def test_stop_ends_an_idle_box_at_once_and_leaves_a_busy_one(box: Box) -> None:
    proc = box.start(linger=600)
    fd = sessions.hold(box.paths)
    assert sessions.stop(box.paths) is False
    assert sessions.supervisor_pid(box.paths) == proc.pid  # its pid file is back
    os.close(fd)
    started = time.monotonic()
    assert sessions.stop(box.paths) is True
    assert time.monotonic() - started < 5
    proc.wait(timeout=5)
    assert box.unmounted()


def shell_hold(box: Box) -> int:
    """What an activated bash or zsh does: an fd on the holds FIFO, and nothing else."""
    return os.open(box.paths.holds, os.O_RDWR)


def test_a_shell_hold_keeps_it_up_and_its_release_starts_the_linger(box: Box) -> None:
    fd = shell_hold(box)
    proc = box.start(linger=1)
    time.sleep(2.5)
    assert proc.poll() is None and not box.unmounted(), "held past its linger"
    assert not sessions.inside(box.paths), "a shell that holds it is not a session"
    os.close(fd)
    proc.wait(timeout=10)
    assert box.unmounted()


def test_stop_does_not_wait_for_shells_that_hold_it(box: Box) -> None:
    fd = shell_hold(box)
    proc = box.start(linger=600)
    try:
        started = time.monotonic()
        assert sessions.stop(box.paths) is True
        assert time.monotonic() - started < 5
        proc.wait(timeout=5)
        assert box.unmounted()
    finally:
        os.close(fd)


def test_a_hold_it_inherits_from_whoever_started_it_does_not_hold_it(box: Box) -> None:
    """A shim run from a holding shell may start the box: the shell's fd (one digit, as the
    hook opens it; 5 is one the supervisor does not open itself) is not its own."""
    p = box.paths
    argv = supervisor_argv(
        "unshare", None, str(box.merged.parent), "o", str(box.merged),
        str(p.supervisor_pid), str(p.sessions), str(p.start_lock), "0",
    )  # fmt: skip
    held = ["/bin/sh", "-c", 'exec 5<>"$0" && exec "$@"', str(p.holds)]
    proc = subprocess.Popen(
        held + argv[argv.index("/bin/sh") :], env=box.env, start_new_session=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    box.procs.append(proc)
    proc.wait(timeout=10)
    assert box.unmounted()


def test_it_does_not_go_while_someone_holds_the_start_lock(box: Box) -> None:
    from devbox.store import fs

    with fs.flocked(box.paths.start_lock):
        proc = box.start(linger=0)
        time.sleep(0.6)
        assert proc.poll() is None and not box.unmounted()
    proc.wait(timeout=10)
    assert box.unmounted()


def test_a_stray_file_where_the_fifo_goes_is_replaced(tmp_path: Path) -> None:
    paths = ProjectPaths(tmp_path / "p")
    paths.run.mkdir(parents=True)
    paths.sessions.write_text("not a fifo")
    fd = sessions.hold(paths)
    try:
        assert sessions.inside(paths)
    finally:
        os.close(fd)
    assert not sessions.inside(paths)


def test_linger_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sessions.LINGER_ENV, "7")
    assert sessions.linger() == "7"
    monkeypatch.setenv(sessions.LINGER_ENV, "soon")
    assert sessions.linger() == str(sessions.LINGER_DEFAULT)
    monkeypatch.delenv(sessions.LINGER_ENV)
    assert sessions.linger() == str(sessions.LINGER_DEFAULT)


def test_joining_a_box_whose_fifo_is_full_does_not_block(tmp_path: Path) -> None:
    import threading

    paths = ProjectPaths(tmp_path / "p")
    paths.run.mkdir(parents=True)
    first = sessions.hold(paths)
    os.set_blocking(first, False)
    with contextlib.suppress(BlockingIOError):  # nobody reads: fill the pipe up
        while True:
            os.write(first, b"\n" * 4096)
    got: list[int] = []
    joiner = threading.Thread(target=lambda: got.append(sessions.hold(paths)), daemon=True)
    joiner.start()
    joiner.join(timeout=5)
    try:
        assert got, "hold() blocked on a full FIFO"
        assert sessions.inside(paths)
    finally:
        for fd in [first, *got]:
            os.close(fd)


def _mounting(box: Box, mount_points: list[str]) -> subprocess.CompletedProcess[str]:
    """The supervisor up to its mounts: an fstab of the overlay and one line per mount point,
    then stopped at once (linger 0, no session)."""
    p = box.paths
    fstab = "\n".join(["overlay-line", *(f"line {m}" for m in mount_points)])
    argv = supervisor_argv(
        "unshare", None, str(box.merged.parent), fstab, str(box.merged),
        str(p.supervisor_pid), str(p.sessions), str(p.start_lock), "0",
        mount_points=mount_points,
    )  # fmt: skip
    return subprocess.run(
        argv[argv.index("/bin/sh") :], env=box.env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_mount_points_are_made_as_real_directories_one_line_at_a_time(box: Box) -> None:
    r = _mounting(box, ["/tmp", "/home/u/my project"])
    assert r.returncode == 0, r.stderr
    assert (box.merged / "home/u/my project").is_dir()
    mounts = [ln for ln in box.log.read_text().splitlines() if ln.startswith("mount ")]
    assert len(mounts) == 2  # the overlay, then the rest in one batch, each mount point checked


def test_a_mount_point_through_a_symlink_the_box_planted_is_refused(
    box: Box, tmp_path: Path
) -> None:
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    (box.merged / "home").symlink_to(host_dir)  # as a box would, in its writable layer
    r = _mounting(box, ["/tmp", "/home/u/proj"])
    assert r.returncode != 0
    assert "symbolic link" in r.stderr
    assert list(host_dir.iterdir()) == []  # nothing made on the host
    mounts = [ln for ln in box.log.read_text().splitlines() if ln.startswith("mount ")]
    assert len(mounts) == 1  # the overlay only: the batch with the bind is refused


def test_mount_points_come_in_batches_split_where_one_lies_in_another() -> None:
    from devbox.sandbox.argv import Bind
    from devbox.sandbox.supervisor import box_mount_points

    binds = [Bind("/h", "/home/u"), Bind("/p", "/home/u/proj"), Bind("/rc", "/run/devbox", "ro")]
    assert box_mount_points(binds, ["/home/u/proj/store"]) == [
        "/tmp", "/run", "/home/u", "", "/home/u/proj", "/run/devbox", "", "/home/u/proj/store",
    ]  # fmt: skip
