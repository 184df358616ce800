"""A box's files as the mounted box would show them, read on the host from its layers.

The layers (and the writable layer) are the box's to write: every path is walked one component
at a time from a directory fd with O_NOFOLLOW, so a symlink is never followed (it hides what lies
below, as any file does, and is not read), a file is read only if it is a regular one (opened
non-blocking: a FIFO is never waited on) and no bigger than the caller's limit, and overlay's
whiteouts and opaque directories hide what they hide. `roots` are the layer roots, top first
(the writable layer first, as `sandbox.box.Box.roots` gives them).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

OPAQUE = ("trusted.overlay.opaque", "user.overlay.opaque")
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_ENTRIES = 4096  # names listed from one merged directory at most


class TooBig(Exception):
    """A file bigger than the caller reads there."""


def opaque(fd: int) -> bool:
    for name in OPAQUE:
        with contextlib.suppress(OSError):
            if os.getxattr(fd, name) == b"y":
                return True
    return False


def whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _parts(rel: str) -> list[str] | None:
    parts = [p for p in rel.split("/") if p and p != "."]
    return None if ".." in parts else parts


@contextlib.contextmanager
def _dir_in_layer(root: Path, parts: Sequence[str]) -> Iterator[tuple[int | None, bool]]:
    """(an fd of the directory `parts` in this layer, or None; whether the layers below are
    hidden there: a whiteout, a file or symlink on the way, or an opaque directory)."""
    try:
        fd = os.open(root, DIR_FLAGS)
    except OSError:
        yield None, False  # an unreadable layer hides nothing and shows nothing
        return
    hidden = False
    try:
        for name in parts:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                yield None, hidden
                return
            except OSError:
                yield None, False
                return
            if not stat.S_ISDIR(st.st_mode):
                yield None, True  # a whiteout, a symlink or a file: the merged path is no dir
                return
            try:
                nfd = os.open(name, DIR_FLAGS, dir_fd=fd)
            except OSError:
                yield None, True
                return
            os.close(fd)
            fd = nfd
            hidden = hidden or opaque(fd)
        yield fd, hidden
    finally:
        os.close(fd)


def listdir(roots: Sequence[Path], rel: str) -> dict[str, os.stat_result]:
    """The names in the merged directory `rel` (none if it is no directory there), each with
    the lstat of the layer that decides it (whiteouts left out)."""
    parts = _parts(rel)
    if parts is None:
        return {}
    seen: dict[str, os.stat_result | None] = {}
    for root in roots:
        with _dir_in_layer(root, parts) as (fd, hidden):
            if fd is not None:
                for name in _names(fd):
                    if name in seen or len(seen) >= MAX_ENTRIES:
                        continue
                    with contextlib.suppress(OSError):
                        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                        seen[name] = None if whiteout(st) else st
            if hidden:
                break
    return {name: st for name, st in seen.items() if st is not None}


def _names(fd: int) -> list[str]:
    try:
        return sorted(os.listdir(fd))
    except OSError:
        return []


def read(roots: Sequence[Path], rel: str, limit: int) -> bytes | None:
    """The merged file `rel` if it is a regular file (not a symlink, FIFO or device) of at most
    `limit` bytes; None if it is missing or anything else; TooBig if it is bigger."""
    parts = _parts(rel)
    if not parts:
        return None
    *dirs, name = parts
    for root in roots:
        with _dir_in_layer(root, dirs) as (fd, hidden):
            if fd is not None:
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    st = None
                except OSError:
                    return None
                if st is not None:
                    return _read_regular(fd, name, limit) if stat.S_ISREG(st.st_mode) else None
            if hidden:
                return None
    return None


def _read_regular(dirfd: int, name: str, limit: int) -> bytes | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dirfd)  # fmt: skip
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None  # swapped since the lstat
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TooBig(name)
    return data
