"""Who is in a box, and when it goes: the sessions FIFO, the supervisor's pid, stopping a box.

Every session holds the project's sessions FIFO open for reading and writing for its whole life
(the fd is inherited by everything in the box) and writes one byte on arrival. The kernel counts
the writers: the supervisor (supervisor.SUPERVISOR_SCRIPT) reads end-of-file exactly when the last
session is gone, and anyone can ask whether a session is inside with a non-blocking read. An
idle box lingers (DEVBOX_LINGER seconds, default 60) so that the next command finds it up.

Starting, stopping and the supervisor's own going all happen under the project's start lock,
and the one who stops removes the pid file before looking for sessions: a session that read the
pid earlier already holds the FIFO and is seen; one that reads it later finds no pid and waits
for the start lock.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import time
from pathlib import Path

from devbox.sandbox.supervisor import SUPERVISOR_MARK
from devbox.store import fs, private
from devbox.store.paths import ProjectPaths

LINGER_ENV = "DEVBOX_LINGER"
LINGER_DEFAULT = 60  # seconds an idle box stays up
STOP_TIMEOUT = 10.0


def linger() -> str:
    """The linger time to give a new supervisor, as the digits it accepts."""
    value = os.environ.get(LINGER_ENV, "").strip()
    return value if value.isdigit() else str(LINGER_DEFAULT)


def cmdline(pid: int) -> bytes:
    """A process's command line, NULs and all; empty when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _pid_in_file(paths: ProjectPaths) -> int | None:
    try:
        return int(paths.supervisor_pid.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_supervisor(pid: int, paths: ProjectPaths) -> bool:
    line = cmdline(pid)  # a zombie's is empty: it is gone
    return SUPERVISOR_MARK.encode() in line and str(paths.supervisor_pid).encode() in line


def supervisor_pid(paths: ProjectPaths) -> int | None:
    """The pid of this project's running supervisor, or None."""
    pid = _pid_in_file(paths)
    return pid if pid is not None and _is_supervisor(pid, paths) else None


def older_supervisor(paths: ProjectPaths) -> int | None:
    """The pid of a supervisor of this box started by an older devbox (it counted sessions
    another way), if one is still running."""
    pid = _pid_in_file(paths)
    if pid is None or _is_supervisor(pid, paths):
        return None
    return pid if str(paths.supervisor_pid).encode() in cmdline(pid) else None


def ensure_fifo(paths: ProjectPaths) -> None:
    """The sessions FIFO, and beside it the holds FIFO (holds.py), made if missing."""
    for fifo in (paths.sessions, paths.holds):
        make_fifo(paths, fifo)


def make_fifo(paths: ProjectPaths, fifo: Path) -> None:
    try:
        if stat.S_ISFIFO(os.lstat(fifo).st_mode):
            return
        fifo.unlink()  # not a FIFO (made by hand?): replace it
    except FileNotFoundError:
        pass
    private.mkdirs(paths.run)
    with contextlib.suppress(FileExistsError):  # another devbox made it meanwhile
        os.mkfifo(fifo, 0o600)


def hold(paths: ProjectPaths) -> int:
    """Become a session of this box: an inheritable fd on the FIFO, and a byte saying we came."""
    ensure_fifo(paths)
    fd = os.open(paths.sessions, os.O_RDWR | os.O_NONBLOCK)
    with contextlib.suppress(BlockingIOError):  # a full pipe only loses the arrival's byte
        os.write(fd, b"\n")
    os.set_blocking(fd, True)
    os.set_inheritable(fd, True)
    return fd


def inside(paths: ProjectPaths) -> bool:
    """Does any session hold this box's FIFO? (Drains the arrival bytes waiting in it.)"""
    try:
        fd = os.open(paths.sessions, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        while os.read(fd, 65536):
            pass
        return False  # end of file: no writer
    except BlockingIOError:
        return True  # nothing to read, but a writer holds it
    finally:
        os.close(fd)


def stop_locked(paths: ProjectPaths, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the box if nobody is inside; the caller holds the start lock. True when no
    supervisor runs any more, False (and the box untouched) when a session is inside."""
    pid = supervisor_pid(paths)
    if pid is None:
        return True
    text = paths.supervisor_pid.read_text()
    paths.supervisor_pid.unlink(missing_ok=True)
    if inside(paths):
        tmp = paths.supervisor_pid.with_name(paths.supervisor_pid.name + ".new")
        tmp.write_text(text)
        os.replace(tmp, paths.supervisor_pid)
        return False
    deadline = time.monotonic() + timeout
    while _is_supervisor(pid, paths):
        if time.monotonic() > deadline:  # it does not answer: its mount dies with it
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            break
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGUSR1)  # again and again: one may come just before it naps
        time.sleep(0.02)
    return True


def stop(paths: ProjectPaths) -> bool:
    """stop_locked under the project's start lock."""
    if not paths.run.is_dir():
        return True
    with fs.flocked(paths.start_lock):
        return stop_locked(paths)
