"""What an image is, read from its unpacked layers: its OS (/etc/os-release) and its dpkg database.

The layers hold an image's content, which is untrusted: every path is walked one component at a
time from a directory fd with O_NOFOLLOW, a symlink is never followed (os-release's usual
symlink falls back to /usr/lib/os-release, as os-release(5) says), and overlay's whiteouts and
opaque directories hide what they hide, as the mounted box will.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

_LIMIT = 64 << 20  # a dpkg status file of a big image is a few MiB
OPAQUE = ("trusted.overlay.opaque", "user.overlay.opaque")


def _opaque(fd: int) -> bool:
    for name in OPAQUE:
        with contextlib.suppress(OSError):
            if os.getxattr(fd, name) == b"y":
                return True
    return False


def _in_layer(root: Path, parts: Sequence[str]) -> tuple[bytes | None, bool]:
    """(the file's bytes if this layer decides them, or None; whether lower layers are hidden)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    hidden = False
    try:
        for i, name in enumerate(parts):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return None, hidden
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None, True  # a whiteout: gone
            last = i == len(parts) - 1
            if last and stat.S_ISREG(st.st_mode):
                ffd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
                with os.fdopen(ffd, "rb") as f:
                    return f.read(_LIMIT), True
            if last or not stat.S_ISDIR(st.st_mode):
                return None, True  # a symlink or other file hides what lies below
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nfd
            hidden = hidden or _opaque(fd)
        return None, True
    finally:
        os.close(fd)


def read(roots: Sequence[Path], rel: str) -> bytes | None:
    """A regular file of the merged layers (`roots` top first), or None."""
    parts = [p for p in rel.split("/") if p]
    for root in roots:
        data, decided = _in_layer(root, parts)
        if data is not None or decided:
            return data
    return None


def os_release(roots: Sequence[Path]) -> dict[str, str]:
    data = read(roots, "etc/os-release") or read(roots, "usr/lib/os-release") or b""
    out: dict[str, str] = {}
    for line in data.decode(errors="replace").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.isidentifier():
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            out[key] = value[:200]
    return out


def os_name(release: dict[str, str]) -> str:
    return release.get("PRETTY_NAME") or release.get("NAME") or "an unknown OS (no os-release)"


def dpkg_packages(roots: Sequence[Path]) -> list[tuple[str, str, str]]:
    """(package, version, architecture) of each installed package, as dpkg-query -W lists them."""
    data = read(roots, "var/lib/dpkg/status")
    if not data:
        return []
    out: list[tuple[str, str, str]] = []
    for stanza in data.decode(errors="replace").split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                k, _, v = line.partition(":")
                fields[k] = v.strip()
        if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
            out.append((fields["Package"], fields.get("Version", ""),
                        fields.get("Architecture", "")))  # fmt: skip
    return sorted(out)


def has_apt(roots: Sequence[Path]) -> bool:
    """Does the image have apt-get (a regular file; /usr/bin, or /bin before usrmerge)?"""
    return any(read(roots, p) is not None for p in ("usr/bin/apt-get", "bin/apt-get"))
