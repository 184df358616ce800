"""File-system helpers for the store: locks, sizes, and deleting trees devbox made."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
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


MAX_DEPTH = 256  # deeper than any data a service keeps; a box's deeper trees: rm -rf


def remove_beneath(root: nofollow.Root, rel: str) -> bool:
    """Delete `rel` beneath the trusted directory `root`, which a box can write, without
    following a link (Python 3.9 has no rmtree(dir_fd=...)): a symlink or file is unlinked
    (never its target), a directory emptied from dir fds and removed, opening up directories
    without read, write or search permission through an O_PATH fd (so a symlink swapped in is
    never chmod'ed through). A symlink or non-directory on the way to `rel` is Refused, a mount
    point below it is refused. False if `rel` was not there. OSError (PermissionError for
    files of ids this process may not delete) is the caller's to tell."""
    *dirs, name = nofollow.parts(rel) or [""]
    if not name:
        raise DevboxError(f"{rel!r}: a path beneath a directory is needed")
    try:
        parent = nofollow.open_dir(root, "/".join(dirs))
    except FileNotFoundError:
        return False
    base = root if isinstance(root, int) else os.fspath(root)
    try:
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        _remove_at(parent, name, st, os.fstat(parent).st_dev, f"{base}/{rel}", MAX_DEPTH)
    finally:
        os.close(parent)
    return True


def _remove_at(parent: int, name: str, st: os.stat_result, dev: int, path: str, left: int) -> None:
    if not stat.S_ISDIR(st.st_mode):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=parent)
        return
    if st.st_dev != dev:
        raise DevboxError(
            f"refusing to delete {path}: it is a mount point",
            hint=f"unmount it (umount -R {path}), then try again",
        )
    if left <= 0:
        raise DevboxError(
            f"refusing to delete {path}: directories nested deeper than {MAX_DEPTH} levels",
            hint=f"delete it yourself: rm -rf --one-file-system {path}",
        )
    fd = _opened_up(parent, name, st)
    try:
        for entry in sorted(os.listdir(fd)):
            try:
                est = os.stat(entry, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            _remove_at(fd, entry, est, dev, f"{path}/{entry}", left - 1)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


def _opened_up(parent: int, name: str, st: os.stat_result) -> int:
    """An fd of the directory `name` (not a symlink: O_NOFOLLOW), made readable, writable and
    searchable by its owner first if it is ours and is not."""
    me = os.geteuid()
    if me != 0 and st.st_uid == me and stat.S_IMODE(st.st_mode) & 0o700 != 0o700:
        path_fd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=parent)  # fmt: skip
        try:
            os.chmod(f"/proc/self/fd/{path_fd}", 0o700)  # the inode the fd holds, not a path
        finally:
            os.close(path_fd)
    return os.open(name, nofollow.DIR_FLAGS, dir_fd=parent)
