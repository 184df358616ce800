"""What a tar entry says besides its data, checked: its name as path components, its owner, its
times, and the extended attributes it may carry into a layer."""

from __future__ import annotations

import base64
import binascii
import errno
import math
import os
import tarfile
import urllib.parse
from typing import Self

from devbox.oci.layerstream import BadLayer

MAX_NAME = 4096  # bytes in a name or a symlink's target
MAX_DEPTH = 256  # components in a name
MAX_HEADER = 8 << 20  # a PAX or GNU long-name header is read whole: a huge one is refused
META_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
              tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)  # fmt: skip
MAX_ID = 0xFFFFFFFE  # (uid_t)-1 means "leave as is" to chown

Parts = tuple[bytes, ...]

# A layer may not set overlayfs's own attributes (redirects, metacopy, opaque marks): only its
# whiteout entries make opaque marks, and only this program writes them.
OVERLAY = ("trusted.overlay.", "user.overlay.")
KEPT = ("user.",)
KEPT_NAMES = ("security.capability", "system.posix_acl_access", "system.posix_acl_default")
SKIPPED_ERRNOS = (errno.ENOTSUP, errno.EPERM)  # the filesystem refuses it: skipped
BAD_ERRNOS = (errno.EINVAL, errno.ERANGE, errno.E2BIG)  # the value is bad: the layer is


def raw(name: str) -> bytes:
    """The bytes of a name as tarfile decoded it (UTF-8, surrogateescape)."""
    return name.encode("utf-8", "surrogateescape")


def text(name: bytes | Parts) -> str:
    if isinstance(name, tuple):
        name = b"/".join(name)
    return name.decode("utf-8", "surrogateescape")


def split(name: str, entry: str, what: str = "name") -> Parts:
    """A tar name as path components: `./` and leading `/` dropped; `..`, NUL bytes, names over
    4096 bytes and depths over 256 refused."""
    b = raw(name)
    if b"\0" in b:
        raise BadLayer(f"{entry}: a NUL byte in its {what}")
    if len(b) > MAX_NAME:
        raise BadLayer(f"{text(b[:256])}...: a {what} longer than {MAX_NAME} bytes")
    parts = tuple(p for p in b.split(b"/") if p and p != b".")
    if any(len(p) > 255 for p in parts):
        raise BadLayer(f"{entry}: a component of its {what} is longer than 255 bytes")
    if b".." in parts:
        shown = "" if name == entry else f" {name}"
        raise BadLayer(f"{entry}: a '..' in its {what}{shown}: it would leave the layer")
    if len(parts) > MAX_DEPTH:
        raise BadLayer(f"{entry}: its {what} is more than {MAX_DEPTH} directories deep")
    return parts


def link_target(m: tarfile.TarInfo, entry: str) -> bytes:
    """A symlink's target, as it is (it is data, resolved only inside the box)."""
    b = raw(m.linkname)
    if not b or b"\0" in b or len(b) >= MAX_NAME:
        raise BadLayer(f"{entry}: a symlink target that is empty, too long or holds a NUL byte")
    return b


def owner(m: tarfile.TarInfo, entry: str) -> tuple[int, int]:
    if not (0 <= m.uid <= MAX_ID and 0 <= m.gid <= MAX_ID):
        raise BadLayer(f"{entry}: an owner id out of range ({m.uid}:{m.gid})")
    return m.uid, m.gid


def mapped_ids() -> str:
    """The uids this process's user namespace maps, for a message: `0-65535`."""
    try:
        with open("/proc/self/uid_map") as f:
            spans = [line.split() for line in f]
        return ", ".join(f"{a}-{int(a) + int(n) - 1}" for a, _, n in spans)
    except (OSError, ValueError):
        return "unknown"


def chown_failed(e: OSError, entry: str, ids: tuple[int, int]) -> BaseException:
    if e.errno == errno.EINVAL:
        return BadLayer(f"{entry}: its owner {ids[0]}:{ids[1]} is not mapped in this sandbox's "
                        f"user namespace (it maps ids {mapped_ids()})")  # fmt: skip
    return e


def times(m: tarfile.TarInfo, entry: str) -> tuple[int, int]:
    """(atime, mtime) in ns; atime from PAX, else the mtime."""
    try:
        mtime = float(m.mtime)
        atime = float(m.pax_headers.get("atime", mtime))
    except ValueError:
        raise BadLayer(f"{entry}: an unreadable time in its header") from None
    for t in (atime, mtime):
        if not math.isfinite(t) or abs(t) > 2**62 / 1e9:
            raise BadLayer(f"{entry}: a time out of range in its header")
    return int(atime * 1e9), int(mtime * 1e9)


def xattrs(m: tarfile.TarInfo, entry: str) -> list[tuple[bytes, bytes]]:
    """The extended attributes an entry carries (PAX `SCHILY.xattr.` and `LIBARCHIVE.xattr.`)
    that go into the layer: `user.*`, file capabilities, ACLs. overlayfs's own are refused;
    other `trusted.*`, `security.*` and `system.*` names are skipped."""
    out = []
    for key, value in m.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name, data = key[len("SCHILY.xattr.") :], raw(value)
        elif key.startswith("LIBARCHIVE.xattr."):
            name = urllib.parse.unquote(key[len("LIBARCHIVE.xattr.") :], errors="surrogateescape")
            try:
                data = base64.b64decode(value + "=" * (-len(value) % 4))
            except (binascii.Error, ValueError):
                raise BadLayer(f"{entry}: an unreadable value of the attribute {name}") from None
        else:
            continue
        if name.startswith(OVERLAY):
            raise BadLayer(f"{entry}: carries the overlayfs attribute {name}; a layer may not "
                           "set overlayfs attributes itself")  # fmt: skip
        if name == "security.capability" and not m.isreg():
            continue  # a capability acts only on a regular file (the kernel refuses it elsewhere)
        if name.startswith(KEPT) or name in KEPT_NAMES:
            out.append((raw(name), data))
    return out


def set_xattrs(target: int | bytes, attrs: list[tuple[bytes, bytes]], entry: str) -> None:
    """Set them on an fd, or a path (a symlink's, under /proc/self/fd: not followed)."""
    for name, value in attrs:
        try:
            if isinstance(target, int):
                os.setxattr(target, name, value)
            else:
                os.setxattr(target, name, value, follow_symlinks=False)
        except OSError as e:
            if e.errno in SKIPPED_ERRNOS:
                continue
            if e.errno in BAD_ERRNOS:
                raise BadLayer(f"{entry}: its attribute {text(name)} cannot be set "
                               f"({os.strerror(e.errno or 0)})") from None  # fmt: skip
            raise


class Info(tarfile.TarInfo):
    """tarfile's headers, stricter: a damaged header ends the layer with an error instead of
    quietly ending the archive there, and a huge PAX or long-name header is refused before it is
    read into memory."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        obj = super().frombuf(buf, encoding, errors)
        if obj.type in META_TYPES and obj.size > MAX_HEADER:
            raise BadLayer(f"a tar extended header of {obj.size} bytes (over {MAX_HEADER})")
        return obj

    @classmethod
    def fromtarfile(cls, tarfile: tarfile.TarFile) -> Self:
        try:
            return super().fromtarfile(tarfile)
        except tarfile_errors() as e:
            at = tarfile.offset
            if at == 0:
                raise BadLayer(f"not a tar archive ({e})") from None
            raise BadLayer(f"a damaged tar header at byte {at} ({e})") from None


def tarfile_errors() -> tuple[type[Exception], ...]:
    """tarfile's "bad checksum" and "truncated header" (not in its public names)."""
    names = ("InvalidHeaderError", "TruncatedHeaderError")
    return tuple(getattr(tarfile, n) for n in names if hasattr(tarfile, n))
