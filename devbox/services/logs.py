"""`devbox logs [-f] [NAME]`: a service's log as supervisord wrote it (rotated at 1 MiB, three
kept), or every service's, each line marked with its name; -f follows across rotations."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from devbox.errors import DevboxError, terminal
from devbox.services.control import files_of
from devbox.spec.model import Spec

FOLLOW_POLL = 0.2


def tail(path: Path, n: int) -> list[str]:
    """The last `n` lines of a log and its first rotated file."""
    lines: list[str] = []
    for p in (path.with_name(path.name + ".1"), path):
        try:
            lines += p.read_text(errors="replace").splitlines()
        except OSError:
            continue
    return lines[-n:] if n else []


def show(spec: Spec, name: str | None, *, follow: bool, lines: int) -> None:
    names = [s.name for s in spec.services]
    if name is not None and name not in names:
        raise DevboxError(
            f"no service named {name!r} in {spec.path}", hint="services: " + ", ".join(names)
        )
    if not names:
        raise DevboxError(f"{spec.path} has no [services]")
    files = files_of(spec)
    chosen = [name] if name else names
    mark = len(chosen) > 1
    width = max(len(n) for n in chosen)
    for n in chosen:
        for line in tail(files.service_log(n), lines):
            _out(n, line, mark, width)
    sys.stdout.flush()
    if follow:
        _follow([(n, files.service_log(n)) for n in chosen], mark, width)


def _out(name: str, line: str, mark: bool, width: int) -> None:
    prefix = f"{name.ljust(width)} | " if mark else ""
    print(terminal(prefix + line))


def _follow(logs: Sequence[tuple[str, Path]], mark: bool, width: int) -> None:
    """Print what each log gains until Ctrl-C; a rotated log is read from its new start."""
    where: dict[str, tuple[int, int]] = {}  # name -> (inode, offset)
    for name, path in logs:
        try:
            st = path.stat()
            where[name] = (st.st_ino, st.st_size)
        except OSError:
            where[name] = (0, 0)
    try:
        while True:
            for name, path in logs:
                where[name] = _more(name, path, where[name], mark, width)
            sys.stdout.flush()
            time.sleep(FOLLOW_POLL)
    except KeyboardInterrupt:
        return


def _more(name: str, path: Path, at: tuple[int, int], mark: bool, width: int) -> tuple[int, int]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return at
    try:
        st = os.fstat(fd)
        inode, offset = at
        if st.st_ino != inode or st.st_size < offset:
            offset = 0
        os.lseek(fd, offset, os.SEEK_SET)
        data = b""
        while chunk := os.read(fd, 65536):
            data += chunk
        end = data.rfind(b"\n") + 1
        for line in data[:end].decode(errors="replace").splitlines():
            _out(name, line, mark, width)
        return st.st_ino, offset + end
    finally:
        os.close(fd)
