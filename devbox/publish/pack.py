"""Pack one layer directory as a reproducible PAX tar, written on stdout.

    python -m devbox.publish.pack --root DIR [--single-id] [--userxattr] [--epoch SECONDS]

Run by devbox as its own process inside the tier's user namespace (as the unpacker is), so the
owners it reads are the box's. The layer is untrusted: it is walked with directory fds, never
following a link (each directory opened O_DIRECTORY|O_NOFOLLOW under its parent's fd, each file
O_NOFOLLOW|O_NONBLOCK and checked by fstat to be the inode lstat saw: a file swapped for a
symlink or a FIFO between the two is refused, never followed or waited on).

The tar: entries sorted by name bytes, parents before children, no `./` entry; owners as the
namespace sees them (`--single-id`: 0:0), uname/gname empty, mode, mtime in whole seconds
(clamped to `--epoch`), no atime/ctime; hard links as links to the first path; symlinks as
their text; FIFOs and device nodes kept, sockets skipped; overlayfs's whiteouts (a 0:0 character
device) as `.wh.NAME`, its opaque mark as `DIR/.wh..wh..opq`; `security.capability` and `user.*`
xattrs as `SCHILY.xattr.*`, overlayfs's own dropped.

Exit 0 (the tar is whole); 3 with `devbox-pack: REASON` on stderr when the layer changed while it
was packed or holds what a tar cannot; 1 (one line too) for anything else.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
import tarfile
from typing import IO, NoReturn

from devbox.errors import printable

EXIT_BAD = 3
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
MAX_DEPTH = 256  # what the unpacker takes
CHUNK = 1 << 20
KEPT_XATTRS = ("security.capability",)
OVERLAY = ("trusted.overlay.", "user.overlay.")
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class Changed(Exception):
    """The layer is not what the walk saw, or holds what a tar cannot."""


class Usage(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        say(f"usage: {message}")
        sys.exit(1)


def say(reason: str) -> None:
    line = f"devbox-pack: {printable(reason)}\n"  # one line: the reason's own are escaped
    sys.stderr.write(printable(line, keep="\n"))
    sys.stderr.flush()


def same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, stat.S_IFMT(a.st_mode)) == (
        b.st_dev,
        b.st_ino,
        stat.S_IFMT(b.st_mode),
    )


def open_dir(parent: int, name: str, seen: os.stat_result, path: str) -> int:
    """The directory `name` under `parent`, the inode lstat saw, no link followed."""
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=parent)
    except OSError as e:
        raise Changed(f"{path}: changed while it was packed ({e.strerror})") from None
    if not same(os.fstat(fd), seen):
        os.close(fd)
        raise Changed(f"{path}: changed while it was packed (another directory)")
    return fd


def open_file(parent: int, name: str, seen: os.stat_result, path: str) -> int:
    """The regular file `name` under `parent`, the inode lstat saw: never through a link, never
    a FIFO waited on."""
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=parent)
    except OSError as e:  # ELOOP: a symlink now; ENXIO: a FIFO
        raise Changed(f"{path}: changed while it was packed ({e.strerror})") from None
    if not same(os.fstat(fd), seen):
        os.close(fd)
        raise Changed(f"{path}: changed while it was packed (another file)")
    return fd


class Exact:
    """A file's first `size` bytes, or Changed if it is shorter now."""

    def __init__(self, fd: int, size: int, path: str) -> None:
        self.fd, self.left, self.path = fd, size, path

    def read(self, n: int = -1) -> bytes:
        want = self.left if n < 0 else min(n, self.left)
        data = os.read(self.fd, want) if want else b""
        if len(data) < want:
            more = os.read(self.fd, want - len(data))
            data += more
            if len(data) < want and not more:
                raise Changed(f"{self.path}: shrank while it was packed")
        self.left -= len(data)
        return data


class Packer:
    def __init__(self, out: IO[bytes], *, single_id: bool, opaque: str, epoch: int | None) -> None:
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                                encoding="utf-8", errors="surrogateescape")  # fmt: skip
        self.single_id = single_id
        self.opaque = opaque  # the opaque mark's xattr name
        self.epoch = epoch
        self.links: dict[tuple[int, int], str] = {}

    def close(self) -> None:
        self.tar.close()

    def info(self, path: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(path)
        ti.type = kind
        ti.mode = stat.S_IMODE(st.st_mode)
        ti.uid, ti.gid = (0, 0) if self.single_id else (st.st_uid, st.st_gid)
        ti.uname = ti.gname = ""
        mtime = int(st.st_mtime)
        ti.mtime = min(mtime, self.epoch) if self.epoch is not None else mtime
        return ti

    def marker(self, path: str) -> None:
        """An empty file that says "whiteout" (fixed metadata: packing it again is the same)."""
        ti = tarfile.TarInfo(path)
        ti.mode, ti.uname, ti.gname, ti.mtime = 0o600, "", "", 0
        self.tar.addfile(ti)

    def xattrs(self, fd: int, ti: tarfile.TarInfo) -> bool:
        """Copy the kept xattrs of the open file into the entry; True if the directory is
        overlayfs-opaque."""
        opaque = False
        headers: dict[str, str] = {}
        try:
            names = sorted(os.listxattr(fd))
        except OSError:
            return False
        for name in names:
            if name == self.opaque:
                with contextlib.suppress(OSError):
                    opaque = os.getxattr(fd, name) == b"y"
                continue
            if name.startswith(OVERLAY):
                continue
            if not (name.startswith("user.") or name in KEPT_XATTRS):
                continue
            try:
                value = os.getxattr(fd, name)
            except OSError:
                continue
            headers["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
        ti.pax_headers = headers
        return opaque

    def walk(self, dirfd: int, prefix: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise Changed(f"{prefix}: more than {MAX_DEPTH} directories deep")
        with os.scandir(dirfd) as it:
            entries = sorted(it, key=lambda e: os.fsencode(e.name))
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            self.entry(dirfd, entry.name, prefix + entry.name, st, depth)

    def entry(self, dirfd: int, name: str, path: str, st: os.stat_result, depth: int) -> None:
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            fd = open_dir(dirfd, name, st, path)
            try:
                ti = self.info(path, st, tarfile.DIRTYPE)
                opaque = self.xattrs(fd, ti)
                self.tar.addfile(ti)
                if opaque:
                    self.marker(f"{path}/{OPAQUE}")
                self.walk(fd, path + "/", depth + 1)
            finally:
                os.close(fd)
        elif stat.S_ISREG(mode):
            if st.st_nlink > 1:
                first = self.links.get((st.st_dev, st.st_ino))
                if first is not None:
                    ti = self.info(path, st, tarfile.LNKTYPE)
                    ti.linkname = first
                    self.tar.addfile(ti)
                    return
                self.links[(st.st_dev, st.st_ino)] = path
            fd = open_file(dirfd, name, st, path)
            try:
                ti = self.info(path, st, tarfile.REGTYPE)
                self.xattrs(fd, ti)
                ti.size = os.fstat(fd).st_size
                self.tar.addfile(ti, Exact(fd, ti.size, path))
            finally:
                os.close(fd)
        elif stat.S_ISLNK(mode):
            ti = self.info(path, st, tarfile.SYMTYPE)
            try:
                ti.linkname = os.readlink(name, dir_fd=dirfd)  # its text: never resolved
            except OSError as e:
                raise Changed(f"{path}: changed while it was packed ({e.strerror})") from None
            self.tar.addfile(ti)
        elif stat.S_ISCHR(mode) and st.st_rdev == 0:  # overlayfs's whiteout
            head, _, tail = path.rpartition("/")
            self.marker(f"{head}/{WHITEOUT}{tail}" if head else f"{WHITEOUT}{tail}")
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            ti = self.info(path, st, tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE)
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self.tar.addfile(ti)
        elif stat.S_ISFIFO(mode):
            self.tar.addfile(self.info(path, st, tarfile.FIFOTYPE))
        # sockets (and anything else) are skipped: a tar has no such entry


def pack(root: str, out: IO[bytes], *, single_id: bool, userxattr: bool, epoch: int | None) -> None:
    fd = os.open(root, DIR_FLAGS)
    opaque = "user.overlay.opaque" if userxattr else "trusted.overlay.opaque"
    packer = Packer(out, single_id=single_id, opaque=opaque, epoch=epoch)
    try:
        packer.walk(fd, "", 0)
    finally:
        os.close(fd)
    packer.close()
    out.flush()


def main(argv: list[str] | None = None) -> int:
    p = Usage(prog="python -m devbox.publish.pack", description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="the layer directory")
    p.add_argument("--single-id", action="store_true", help="every owner 0:0 (tier 3)")
    p.add_argument("--userxattr", action="store_true", help="opaque marks are user.overlay.*")
    p.add_argument("--epoch", type=int, help="clamp mtimes to this (SOURCE_DATE_EPOCH)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        pack(args.root, sys.stdout.buffer, single_id=args.single_id, userxattr=args.userxattr,
             epoch=args.epoch)  # fmt: skip
    except Changed as e:
        say(str(e))
        return EXIT_BAD
    except OSError as e:
        names = [os.fsdecode(n) for n in (e.filename, e.filename2) if n not in (None, "")]
        say(": ".join([e.strerror or str(e), *names]))
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug: still one line, never a traceback
        say(f"internal error: {type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
