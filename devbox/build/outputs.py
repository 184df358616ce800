"""What a build step leaves in its `out/` (box-writable: read without following links): the
packages it installed, and the pinned packages the archive no longer has."""

from __future__ import annotations

import collections
import contextlib
from pathlib import Path

from devbox import nofollow
from devbox.errors import DevboxError


class Unavailable(Exception):
    def __init__(self, items: list[str]) -> None:
        super().__init__(", ".join(items))
        self.items = items


def unavailable(out: Path) -> list[str]:
    try:
        text = nofollow.read_beneath(out, "unavailable").decode(errors="replace")
        return [line.strip() for line in text.splitlines() if line]
    except OSError:
        return []


def read_packages(path: Path, log: Path) -> tuple[dict[str, str], str]:
    try:
        text = nofollow.read_file(path).decode(errors="replace")  # the build's out/: no symlink
    except OSError as e:
        raise DevboxError("the build finished but did not report its packages", log=str(log)) from e
    packages: dict[str, str] = {}
    arches: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            name, version, arch = line.split("\t")
            if not version:  # known to dpkg but not installed
                continue
            packages[name] = version
            if arch != "all":
                arches[arch] += 1
    arch = arches.most_common(1)[0][0] if arches else "unknown"
    return dict(sorted(packages.items())), arch
