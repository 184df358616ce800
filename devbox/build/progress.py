"""The build display: which layer, what it is doing, elapsed time; full output in a log file."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from devbox.build import failure
from devbox.errors import DevboxError, printable, terminal
from devbox.sandbox.host import end_session, tool
from devbox.store import private


class Display:
    def __init__(
        self, *, quiet: bool = False, verbose: bool = False, stream: IO[str] | None = None
    ):
        self.quiet = quiet
        self.verbose = verbose
        self.out = stream or sys.stderr
        self.live = self.out.isatty() and not verbose and not quiet
        self._status = ""
        self._stopping = False
        # a second thing that runs meanwhile (a fetch ahead): what it does, after the status
        self.aside: Callable[[], str] | None = None

    def info(self, msg: str) -> None:
        """A message, made printable (it may name paths, or quote a box's output)."""
        if not self.quiet:
            self._clear()
            print(terminal(msg), file=self.out, flush=True)

    def status(self, msg: str) -> None:
        """A transient line on a terminal; nothing elsewhere."""
        if not self.live:
            return
        width = max(20, _columns() - 1)
        beside = printable(self.aside()) if self.aside is not None and msg else ""
        if beside:  # the step's line is cut first: what runs beside it stays in view
            line = f"{printable(msg)[: max(10, width - len(beside) - 4)]}  · {beside}"[:width]
        else:
            line = printable(msg)[:width]
        self.out.write("\r\x1b[K" + line)
        self.out.flush()
        self._status = line

    def _clear(self) -> None:
        if self._status:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._status = ""

    def done(self, msg: str) -> None:
        self.info(msg)

    def stopping(self, label: str) -> None:
        """Said once, at the first Ctrl-C (or SIGTERM) of a build, before it cleans up. From
        then on the process is on its way out: a further Ctrl-C is told, never raised, so it
        cannot land between two steps of the clean-up either."""
        if not self._stopping:
            self._stopping = True
            self.info(f"{label}: stopping… (removing the unfinished layer: nothing is left behind)")
            _tell_signals(self)


@contextlib.contextmanager
def uninterrupted(display: Display) -> Iterator[None]:
    """Clean-up that a further Ctrl-C (or SIGTERM) must not cut short: ending a build step and
    removing its unfinished layer. A signal meanwhile is told, not raised: interrupted halfway,
    the removal would leave a temp layer behind (and rootless, files only the namespace can
    delete)."""
    saved = _tell_signals(display)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _tell_signals(display: Display) -> dict[int, Any]:
    """Make SIGINT and SIGTERM print a line instead of raising; the handlers they had. Only
    the main thread sets handlers (a build in `devbox watch` runs in another: nothing here)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def told(signum: int, frame: object) -> None:
        with contextlib.suppress(Exception):  # a print cut short by this one: say nothing
            display.info("devbox: still removing the unfinished layer; stopping right after")

    return {sig: signal.signal(sig, told) for sig in (signal.SIGINT, signal.SIGTERM)}


def _columns() -> int:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except OSError:
        return 80


def run_logged(
    argv: Sequence[str],
    *,
    log: Path,
    display: Display,
    label: str,
    env: Mapping[str, str] | None = None,
    pass_fds: Sequence[int] = (),
    suite: str | None = None,
) -> None:
    """Run `argv`, appending its output to `log`, showing its last line under `label`.

    The tool dies with devbox: a kill -9 of devbox must not leave a build writing into a temp
    dir that the next build deletes. util-linux `setpriv` sets the parent-death signal and execs
    it, so no Python code runs in the child between fork and exec (a `preexec_fn` can deadlock
    when the parent has threads, as `devbox watch` has).

    Raises DevboxError naming the log on failure, in devbox's words (build.failure; `suite`:
    the Debian suite apt installs from, for naming a package it does not have).
    """
    path = (env if env is not None else os.environ).get("PATH", os.defpath)
    if shutil.which(argv[0], path=path) is None:  # as Popen would say, not setpriv
        raise DevboxError(f"cannot run {argv[0]}: no such program")
    died_with_us = [tool("setpriv"), "--pdeathsig", "KILL", "--", *argv]
    start = time.monotonic()
    private.mkdirs(log.parent)
    try:
        with open(log, "ab") as logf:
            logf.write(f"\n$ {' '.join(argv)}\n".encode())
            logf.flush()
            offset = logf.tell()  # the tool's output starts here, after the scripts it was given
            try:
                proc = subprocess.Popen(
                    died_with_us,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=dict(env) if env is not None else None,
                    pass_fds=tuple(pass_fds),
                    start_new_session=True,  # so its leftovers can be found and ended
                )
            except OSError as e:
                raise DevboxError(f"cannot run {died_with_us[0]}: {e.strerror}") from e
            assert proc.stdout is not None
            try:
                _pump(proc, proc.stdout, logf, display, label, start)
            except BaseException as e:
                if isinstance(e, KeyboardInterrupt):
                    display.stopping(label)
                with uninterrupted(display):
                    _stop(proc, proc.stdout)
                display.status("")
                raise
            rc = proc.wait()
            end_session(proc.pid)
    except OSError as e:  # the log could not be written: the store's disk is full
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            display.status("")
            raise failure.disk_full(label, log) from None
        raise
    if rc != 0:
        display.status("")
        raise failure.explain(label, rc, _output(log, offset), log, suite)


def _stop(proc: subprocess.Popen[bytes], pipe: IO[bytes]) -> None:
    """Interrupted: end the step at once, and wait until nothing of it can write into the
    layer that is removed next. The step is thrown away, so it gets no chance to tidy up:
    SIGKILL to it and its session; its pid namespace dies with it (unshare --kill-child), and
    the last of its processes is gone when the output pipe they share reaches its end."""
    end_session(proc.pid)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    fd = pipe.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.25)
        if ready and not os.read(fd, 65536):
            break


def _pump(
    proc: subprocess.Popen[bytes],
    pipe: IO[bytes],
    logf: IO[bytes],
    display: Display,
    label: str,
    start: float,
) -> None:
    fd = pipe.fileno()
    buf = b""
    last = ""
    while True:
        ready, _, _ = select.select([fd], [], [], 0.25)
        if not ready and proc.poll() is not None:
            break  # the tool is done; an orphan of it may hold the pipe open forever
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            logf.write(chunk)
            if display.verbose:
                display.out.write(printable(chunk.decode(errors="replace"), keep="\n\t\r"))
                display.out.flush()
            buf += chunk
            *lines, buf = buf.replace(b"\r", b"\n").split(b"\n")
            for raw in reversed(lines):
                text = raw.decode(errors="replace").strip()
                if text:
                    last = text
                    break
        display.status(f"{label}  {time.monotonic() - start:5.1f}s  {last}")
    logf.flush()


def _output(log: Path, offset: int) -> str:
    """What the failing command printed (the log from `offset`), at most its last 64 KiB."""
    try:
        with open(log, "rb") as f:
            f.seek(max(offset, f.seek(0, os.SEEK_END) - 65536))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
