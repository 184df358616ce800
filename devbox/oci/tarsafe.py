"""Writing tar entries into a layer directory without ever following a symlink.

Every parent is opened one component at a time from the layer's dir fd with
O_DIRECTORY|O_NOFOLLOW (missing ones made 0755, as tar does); one that is a symlink or not a
directory is refused. Files are made with O_CREAT|O_EXCL|O_NOFOLLOW after what was at their name
is removed (a directory only by a non-directory entry; a directory entry over one updates it).
Hard links must name a regular file of this layer, reached the same way. Whiteouts become
overlayfs's: a 0:0 character device, an opaque mark on the directory. Device nodes are skipped:
a box gets its /dev from bwrap, and a node would be a door to a host device.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from typing import Protocol

from devbox.oci import layermeta as meta
from devbox.oci.filepool import BIG, Pool, file_job, is_dir, read_all
from devbox.oci.layermeta import Parts, text
from devbox.oci.layerstream import CHUNK, BadLayer

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
OPAQUE = b".wh..wh..opq"
WHITEOUT = b".wh."
FIFO_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
CACHED_DIRS = 256


class Reader(Protocol):
    def read(self, n: int, /) -> bytes: ...


class Tree:
    """The layer directory being written: `add` each entry, then `finish`."""

    def __init__(self, root: int, *, chown: bool, opaque: bytes) -> None:
        self.root = root
        self.chown = chown
        self.opaque = opaque  # the opaque mark's xattr name
        self.dirs: dict[Parts, int] = {}  # open directory fds by path
        self.stale: list[int] = []  # fds of removed directories, closed before the next entry
        self.modes: dict[Parts, tuple[int, int, int]] = {}  # directory: mode, atime, mtime
        self.files = self.bytes = self.devices = 0
        self.pool = Pool()

    def close(self) -> None:
        self.pool.close()
        for fd in [*self.dirs.values(), *self.stale]:
            os.close(fd)
        self.dirs, self.stale = {}, []

    # -- directories and what is in the way

    def dir(self, parts: Parts, entry: str, create: bool = True, role: str = "writes") -> int:
        """The fd of the directory `parts` (kept in the cache: not for the caller to close)."""
        if not parts:
            return self.root
        fd = self.dirs.get(parts)
        if fd is not None:
            return fd
        parent = self.dir(parts[:-1], entry, create, role)
        name = parts[-1]
        try:
            try:
                fd = os.open(name, DIR_FLAGS, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(name, 0o755, dir_fd=parent)
                fd = os.open(name, DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            raise BadLayer(f"{entry}: {role} {text(parts)}, which is not in this layer") from None
        except OSError as e:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise BadLayer(f"{entry}: {role} through a symlink ({text(parts)} is a symlink "
                               "in this layer)") from None  # fmt: skip
            if not stat.S_ISDIR(st.st_mode):
                raise BadLayer(f"{entry}: {role} into {text(parts)}, which is not a "
                               "directory in this layer") from None  # fmt: skip
            raise e
        self.dirs[parts] = fd
        return fd

    def next_entry(self) -> None:
        for fd in self.stale:
            os.close(fd)
        self.stale = []
        if len(self.dirs) > CACHED_DIRS:
            self.stale = list(self.dirs.values())
            self.dirs = {}

    def clear(self, parent: int, parts: Parts, keep_dir: bool = False) -> bool:
        """Remove what is at `parts` (in `parent`): True if it is a directory kept."""
        name = parts[-1]
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=parent)
            return False
        if keep_dir:
            return True
        shutil.rmtree(os.fsdecode(name), dir_fd=parent)
        for key in [k for k in self.dirs if k[: len(parts)] == parts]:
            self.stale.append(self.dirs.pop(key))
        return False

    # -- entries

    def add(self, m: tarfile.TarInfo, tar: Reader | None) -> None:
        """Write the entry `m`; `tar` reads its data (a regular file's)."""
        self.next_entry()
        entry = m.name
        parts = meta.split(m.name, entry)
        if self.pool.busy(parts):  # a file at or under this name is still being written
            self.pool.settle()
        if parts and parts[-1].startswith(WHITEOUT):
            return self.whiteout(parts, entry)
        attrs = meta.xattrs(m, entry)
        if not parts:
            if not m.isdir():
                raise BadLayer(f"{entry}: an entry with an empty name that is not a directory")
            return self.directory(m, parts, entry, attrs)
        if m.ischr() or m.isblk():
            self.devices += 1
            return None
        parent = self.dir(parts[:-1], entry)
        if m.isdir():
            return self.directory(m, parts, entry, attrs)
        if m.isreg() and m.size <= BIG and not is_dir(parent, parts[-1]):
            assert tar is not None
            self.hand_over(parent, parts, read_all(tar, m.size, entry), m, entry, attrs)
        elif m.isreg():
            assert tar is not None
            self.pool.settle()
            fd = self.create(parent, parts)
            try:
                self.copy(tar, fd, m.size, entry)
                self.metadata(fd, m, entry, attrs)
            finally:
                os.close(fd)
        elif m.issym():
            self.symlink(parent, parts, m, entry, attrs)
        elif m.islnk():
            self.hardlink(parent, parts, m, entry)
        elif m.isfifo():
            self.clear(parent, parts)
            os.mkfifo(parts[-1], 0o600, dir_fd=parent)
            fd = os.open(parts[-1], FIFO_FLAGS, dir_fd=parent)
            try:
                self.metadata(fd, m, entry, attrs)
            finally:
                os.close(fd)
        else:
            raise BadLayer(f"{entry}: a tar entry of type {m.type!r}, which devbox does not unpack")
        self.files += 1
        return None

    def hand_over(self, parent: int, parts: Parts, data: bytes, m: tarfile.TarInfo, entry: str,
                  attrs: list[tuple[bytes, bytes]]) -> None:  # fmt: skip
        """The file is made by the pool's thread (what is at its name is no directory)."""
        self.bytes += len(data)
        finish = lambda fd: self.metadata(fd, m, entry, attrs)  # noqa: E731
        self.pool.submit(parts, file_job(parent, parts[-1], data, finish))

    def create(self, parent: int, parts: Parts) -> int:
        try:
            return os.open(parts[-1], FILE_FLAGS, 0o600, dir_fd=parent)
        except FileExistsError:
            self.clear(parent, parts)
            return os.open(parts[-1], FILE_FLAGS, 0o600, dir_fd=parent)

    def copy(self, tar: Reader, fd: int, size: int, entry: str) -> None:
        left = size
        while left:
            chunk = tar.read(min(left, CHUNK))
            if not chunk:
                raise BadLayer(f"{entry}: the layer ends inside this file's data")
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            left -= len(chunk)
        self.bytes += size

    def own(self, fd: int, m: tarfile.TarInfo, entry: str) -> None:
        """The entry's owner (unless the namespace maps one id only)."""
        if self.chown:
            ids = meta.owner(m, entry)
            try:
                os.fchown(fd, *ids)
            except OSError as e:
                raise meta.chown_failed(e, entry, ids) from None

    def metadata(self, fd: int, m: tarfile.TarInfo, entry: str, attrs: list[tuple[bytes, bytes]]
                 ) -> None:  # fmt: skip
        """Owner, then mode (chown clears set-id bits), then xattrs (chown clears file
        capabilities), then times."""
        self.own(fd, m, entry)
        os.fchmod(fd, m.mode & 0o7777)
        meta.set_xattrs(fd, attrs, entry)
        os.utime(fd, ns=meta.times(m, entry))

    def directory(self, m: tarfile.TarInfo, parts: Parts, entry: str,
                  attrs: list[tuple[bytes, bytes]]) -> None:  # fmt: skip
        if parts and not self.clear(self.dir(parts[:-1], entry), parts, keep_dir=True):
            os.mkdir(parts[-1], 0o700, dir_fd=self.dir(parts[:-1], entry))
        fd = self.dir(parts, entry)
        self.own(fd, m, entry)
        meta.set_xattrs(fd, attrs, entry)
        self.modes[parts] = (m.mode & 0o7777, *meta.times(m, entry))
        if parts:
            self.files += 1

    def symlink(self, parent: int, parts: Parts, m: tarfile.TarInfo, entry: str,
                attrs: list[tuple[bytes, bytes]]) -> None:  # fmt: skip
        target = meta.link_target(m, entry)
        self.clear(parent, parts)
        name = parts[-1]
        os.symlink(target, name, dir_fd=parent)
        if self.chown:
            ids = meta.owner(m, entry)
            try:
                os.chown(name, *ids, dir_fd=parent, follow_symlinks=False)
            except OSError as e:
                raise meta.chown_failed(e, entry, ids) from None
        meta.set_xattrs(b"/proc/self/fd/%d/%s" % (parent, name), attrs, entry)
        os.utime(name, ns=meta.times(m, entry), dir_fd=parent, follow_symlinks=False)

    def hardlink(self, parent: int, parts: Parts, m: tarfile.TarInfo, entry: str) -> None:
        target = meta.split(m.linkname, entry, "hard link target")
        if not target:
            raise BadLayer(f"{entry}: a hard link without a target")
        if target == parts:
            return
        if self.pool.busy(target):
            self.pool.settle()
        role = "links to a file"
        tdir = self.dir(target[:-1], entry, create=False, role=role)
        try:
            st = os.stat(target[-1], dir_fd=tdir, follow_symlinks=False)
        except FileNotFoundError:
            raise BadLayer(f"{entry}: {role} {text(target)}, which is not in this layer") from None
        if not stat.S_ISREG(st.st_mode):
            raise BadLayer(f"{entry}: {role} {text(target)}, which is not a regular file")
        self.clear(parent, parts)
        try:
            os.link(target[-1], parts[-1], src_dir_fd=tdir, dst_dir_fd=parent,
                    follow_symlinks=False)  # fmt: skip
        except FileNotFoundError:  # the entry replaced a directory holding its target
            raise BadLayer(f"{entry}: {role} {text(target)}, which it replaced") from None

    def whiteout(self, parts: Parts, entry: str) -> None:
        """`.wh..wh..opq`: the directory hides the lower layers' content; `.wh.NAME`: NAME is
        deleted (a 0:0 character device); other `.wh..wh.` names are skipped."""
        parent = self.dir(parts[:-1], entry)
        if parts[-1] == OPAQUE:
            try:
                os.setxattr(parent, self.opaque, b"y")
            except OSError as e:
                raise OSError(e.errno, f"cannot mark {text(parts[:-1]) or '/'} opaque "
                              f"({text(self.opaque)}): {e.strerror}") from None  # fmt: skip
            return
        if parts[-1].startswith(WHITEOUT + WHITEOUT):
            return
        name = parts[-1][len(WHITEOUT) :]
        if name in (b"", b".", b".."):
            raise BadLayer(f"{entry}: a whiteout of no name")
        gone = (*parts[:-1], name)
        if self.pool.busy(gone):
            self.pool.settle()
        self.clear(parent, gone)
        os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)
        self.files += 1

    def finish(self) -> None:
        """Directories' modes and times, deepest first (adding children changed their times);
        one that a later entry replaced is left alone."""
        self.pool.settle()
        self.next_entry()
        for parts, (mode, atime, mtime) in sorted(self.modes.items(), key=lambda i: -len(i[0])):
            try:
                fd = self.dir(parts, text(parts), create=False)
            except BadLayer:
                continue
            os.fchmod(fd, mode)
            os.utime(fd, ns=(atime, mtime))
