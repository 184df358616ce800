"""Files in places a box can write, opened without following a symlink the box planted.

A box writes its layers, its writable layer, its home, the project's working tree and a build's
`out/`. The host reaches into those only through these functions: the directory they start from
is the host's own (it may be reached through symlinks the user made), and every component below
it is opened with O_NOFOLLOW, a directory with O_DIRECTORY, a file with O_NONBLOCK and checked to
be a regular file, so a planted symlink, FIFO or directory is refused (a `Refused` error naming
the path), never followed and never waited on. Writes go to a new file (O_CREAT|O_EXCL, an
unpredictable name) renamed over the target under the same directory fd: a rename replaces a
symlink, it never writes through one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from typing import Union

from devbox.errors import DevboxError

Root = Union[str, "os.PathLike[str]", int]  # a trusted directory, or an fd of one

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_LIMIT = 64 << 20  # what devbox reads this way is small: a planted huge file is refused


class Refused(DevboxError):
    """A path the box can write is not what devbox expects there (a symlink, a FIFO...)."""


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISREG(mode):
        return "a file"
    return "a special file"


def refused(path: str, what: str, expected: str = "a file") -> Refused:
    return Refused(
        f"{path} is {what}, not {expected}: devbox does not follow or open it there",
        hint=f"a box (or a build step) can write this path; remove it, or make it {expected} again",
    )


def _display(root: Root, rel: str) -> str:
    base = f"(fd {root})" if isinstance(root, int) else os.fspath(root)
    return os.path.join(base, rel) if rel else base


def parts(rel: str) -> list[str]:
    """The components of a relative path; `..`, `.`-only and absolute paths are refused."""
    if rel.startswith("/"):
        raise DevboxError(f"{rel}: an absolute path where a relative one is needed")
    out = [p for p in rel.split("/") if p and p != "."]
    if ".." in out:
        raise DevboxError(f"{rel}: a path leaving its directory ('..') is refused")
    return out


def _refusal(dirfd: int, name: str, path: str, expected: str) -> Refused | None:
    """Why `name` under `dirfd` cannot be opened as `expected` (None: it vanished)."""
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except OSError:
        return None
    return refused(path, _kind(st.st_mode), expected)


def open_root(root: Root) -> int:
    """An fd of a trusted directory (a dup if it is an fd already)."""
    if isinstance(root, int):
        return os.dup(root)
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def open_dir(root: Root, rel: str, make: int | None = None) -> int:
    """An fd of the directory `rel` beneath `root`, no component a symlink. FileNotFoundError if
    a component is missing (`make`: a missing one is made with that mode, mkdirat, whatever the
    umask); Refused if one is not a directory (a symlink swapped in after the mkdir included)."""
    fd = open_root(root)
    done: list[str] = []
    try:
        for name in parts(rel):
            done.append(name)
            made = False
            if make is not None and not _exists(fd, name):
                with contextlib.suppress(FileExistsError):  # made meanwhile: opened below
                    os.mkdir(name, make, dir_fd=fd)
                    made = True
            try:
                nfd = os.open(name, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                raise
            except OSError as e:  # ELOOP (a symlink), ENOTDIR
                why = _refusal(fd, name, _display(root, "/".join(done)), "a directory")
                raise (why or e) from None
            os.close(fd)
            fd = nfd
            if made and make is not None:
                os.fchmod(fd, make)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _exists(dirfd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def open_beneath(root: Root, rel: str, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """An fd of the file `rel` beneath `root`, opened with `flags`, no component a symlink; a
    regular file, else Refused (a FIFO is opened without waiting, then refused)."""
    *dirs, name = parts(rel) or [""]
    if not name:
        raise DevboxError(f"{_display(root, rel)}: a file name is needed")
    dirfd = open_dir(root, "/".join(dirs))
    path = _display(root, rel)
    try:
        try:
            fd = os.open(
                name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode, dir_fd=dirfd
            )
        except FileNotFoundError:
            raise
        except OSError as e:  # ELOOP (a symlink), EISDIR, ENXIO (a FIFO nobody reads)
            raise (_refusal(dirfd, name, path, "a file") or e) from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise refused(path, _kind(st.st_mode))
        return fd
    finally:
        os.close(dirfd)


def read_fd(fd: int, path: str, limit: int = READ_LIMIT) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise DevboxError(f"{path} is bigger than devbox reads there ({limit} bytes)")
        chunks.append(chunk)


def read_beneath(root: Root, rel: str, limit: int = READ_LIMIT) -> bytes:
    """The bytes of the regular file `rel` beneath `root` (see open_beneath)."""
    fd = open_beneath(root, rel)
    try:
        return read_fd(fd, _display(root, rel), limit)
    finally:
        os.close(fd)


def read_file(path: str | os.PathLike[str], limit: int = READ_LIMIT) -> bytes:
    """The bytes of `path`, its directory trusted, its last component not followed."""
    head, name = os.path.split(os.fspath(path))
    return read_beneath(head or ".", name, limit)


def write_replace(directory: Root, name: str, data: bytes, mode: int = 0o644) -> None:
    """Atomically make `name` in `directory` a regular file holding `data` with `mode`: a new
    file (O_EXCL, an unpredictable name) renamed over it, both under one directory fd. Whatever
    `name` was (a symlink included) is replaced, never written through."""
    if "/" in name or name in ("", ".", ".."):
        raise DevboxError(f"{name!r}: a plain file name is needed")
    dirfd = open_root(directory)
    tmp = f".{name}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
            dir_fd=dirfd,
        )  # fmt: skip
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                os.fchmod(f.fileno(), mode)
            os.replace(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dirfd)
            except OSError:
                pass
            raise
    finally:
        os.close(dirfd)


def walk(dirfd: int, depth: int = 64) -> Iterator[tuple[str, os.stat_result, int, str]]:
    """Everything under the open directory `dirfd`, never following a symlink, parents first
    and in name order: (relative path, lstat, fd of its directory, name). The fd is valid only
    until the next item. Deeper than `depth` directories: Refused."""

    def inner(fd: int, prefix: str, left: int) -> Iterator[tuple[str, os.stat_result, int, str]]:
        for name in sorted(os.listdir(fd)):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            rel = prefix + name
            yield rel, st, fd, name
            if stat.S_ISDIR(st.st_mode):
                if left <= 0:
                    raise DevboxError(f"{rel}: directories nested too deep ({depth} levels)")
                try:
                    sub = os.open(name, DIR_FLAGS, dir_fd=fd)
                except OSError as e:
                    raise (_refusal(fd, name, rel, "a directory") or e) from None
                try:
                    yield from inner(sub, rel + "/", left - 1)
                finally:
                    os.close(sub)

    yield from inner(dirfd, "", depth)


def copy_tree(src: int, dst: int) -> list[str]:
    """Copy the tree under the directory fd `src` into the (empty, trusted) directory fd `dst`:
    directories, regular files and symlinks (as symlinks, never followed); modes without the
    set-id bits; other files skipped. What could not be copied is returned, not raised."""
    skipped: list[str] = []
    dirs: dict[str, int] = {"": os.dup(dst)}
    modes: list[tuple[str, int]] = []
    try:
        for rel, st, fd, name in walk(src):
            parent = dirs.get(os.path.dirname(rel))
            if parent is None:  # its directory was skipped
                skipped.append(rel)
                continue
            try:
                _copy_one(st, fd, name, parent, rel, dirs)
            except OSError:
                skipped.append(rel)
                continue
            if stat.S_ISDIR(st.st_mode):
                modes.append((rel, stat.S_IMODE(st.st_mode) & 0o777))
            elif not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
                skipped.append(rel)
        for rel, mode in modes:
            os.chmod(dirs[rel], mode)
    finally:
        for fd in dirs.values():
            os.close(fd)
    return skipped


def _copy_one(
    st: os.stat_result, fd: int, name: str, parent: int, rel: str, dirs: dict[str, int]
) -> None:
    if stat.S_ISDIR(st.st_mode):
        os.mkdir(name, 0o700, dir_fd=parent)
        dirs[rel] = os.open(name, DIR_FLAGS, dir_fd=parent)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(name, dir_fd=fd), name, dir_fd=parent)
    elif stat.S_ISREG(st.st_mode):
        sfd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
        try:
            if not stat.S_ISREG(os.fstat(sfd).st_mode):
                raise OSError(f"{rel} changed")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            dfd = os.open(name, flags, 0o600, dir_fd=parent)
            with os.fdopen(dfd, "wb") as out:
                while chunk := os.read(sfd, 1 << 16):
                    out.write(chunk)
                os.fchmod(out.fileno(), stat.S_IMODE(st.st_mode) & 0o777)
        finally:
            os.close(sfd)
