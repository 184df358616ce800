"""What an image is, read from its unpacked layers: its OS (/etc/os-release) and its dpkg database.

The layers hold an image's content, which is untrusted: every path is walked one component at a
time from a directory fd with O_NOFOLLOW (sandbox/layerview.py), a symlink is never followed
(os-release's usual symlink falls back to /usr/lib/os-release, as os-release(5) says), and
overlay's whiteouts and opaque directories hide what they hide, as the mounted box will.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from devbox.sandbox import layerview

_LIMIT = 64 << 20  # a dpkg status file of a big image is a few MiB


def read(roots: Sequence[Path], rel: str) -> bytes | None:
    """A regular file of the merged layers (`roots` top first), or None (also if it is bigger
    than devbox reads there)."""
    try:
        return layerview.read(roots, rel, _LIMIT)
    except layerview.TooBig:
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
