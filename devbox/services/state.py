"""Which services run, from files alone (no supervisord call): for the shell hook and `devbox
shell`, which mention them on entry and must stay cheap (nothing when a project has none)."""

from __future__ import annotations

import os

from devbox.spec.model import Spec
from devbox.store.paths import ProjectPaths, Store


def _alive(pid_file: str, mark: bytes = b"") -> bool:
    try:
        with open(pid_file, "rb") as f:
            pid = int(f.read().strip() or b"0")
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            line = f.read()
    except (OSError, ValueError):
        return False
    return bool(line) and mark in line


def live(spec: Spec, st: Store | None = None) -> list[str]:
    """The services of `spec` whose process runs under its project's supervisord."""
    if not spec.services:
        return []
    d = ProjectPaths((st or Store.default()).project_dir(spec.project)).services
    if not _alive(os.path.join(d, "supervisord.pid"), b"supervisord"):
        return []
    return [s.name for s in spec.services if _alive(os.path.join(d, f"{s.name}.pid"))]


def mention(spec: Spec) -> str | None:
    """One line saying which services run, or None."""
    names = live(spec)
    if not names:
        return None
    return f"devbox: services up: {', '.join(names)} (`devbox services`, `devbox down`)"
