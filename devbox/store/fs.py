"""File-system helpers for the store: locks, sizes, and deleting trees devbox made."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.store import private


@contextlib.contextmanager
def flocked(path: Path, *, exclusive: bool = True, blocking: bool = True) -> Iterator[bool]:
    """Hold a flock on `path` (created 0600 if missing, in 0700 dirs: no other user can open it
    and hold the lock). Yields False if non-blocking and busy."""
    private.mkdirs(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, private.FILE_MODE)
    try:
        st = os.fstat(fd)
        if st.st_uid == os.geteuid() and st.st_mode & 0o077:  # an older devbox's 0644
            os.fchmod(fd, private.FILE_MODE)
        op = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if not blocking:
            op |= fcntl.LOCK_NB
        try:
            fcntl.flock(fd, op)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def disk_usage(path: Path) -> int:
    """Bytes used on disk under `path`, counting each inode once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += st.st_blocks * 512
    return total


def remove_tree(path: Path) -> None:
    """Delete `path`: a file, a symlink (not its target), or a directory tree, including
    directories without read, write or search permission (dpkg leaves some)."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
        return
    if not path.exists():
        return
    for dirpath, dirnames, _ in os.walk(path, onerror=lambda e: _open_up(Path(e.filename))):
        for name in dirnames:
            sub = Path(dirpath) / name
            if os.path.ismount(sub):
                raise DevboxError(
                    f"refusing to delete {path}: {sub} is a mount point",
                    hint=f"unmount it (umount -R {sub}), then try again",
                )
            _open_up(sub)
    shutil.rmtree(path)


Remover = Callable[[Path], None]


def _open_up(directory: Path) -> None:
    """Give the owner rwx on a directory so it can be emptied: opened with O_NOFOLLOW and
    changed through that fd, so a symlink swapped in (by a box still running) is not followed."""
    with contextlib.suppress(OSError):
        try:
            fd = os.open(directory, nofollow.DIR_FLAGS)
        except PermissionError:  # mode 0 and not root: a mode change by path (lstat first)
            if not directory.is_symlink():
                directory.chmod(0o700)
            return
        try:
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)
