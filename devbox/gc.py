"""`devbox gc`: delete what no live project uses, and say how much it freed.

A project is live while its directory still has its devbox.toml (or its box is running).
Layers, writable layers, isolated homes and apt caches of dead projects go; so do temp dirs of
builds that died. Files owned by subuids are deleted from inside the user namespace (tier 2).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import store
from .box import supervisor_pid
from .host import Tier, remover
from .paths import ProjectPaths, Store
from .spec import SPEC_NAME

LOG_DAYS = 14


@dataclass
class Freed:
    items: list[tuple[str, int]] = field(default_factory=list)

    def add(self, what: str, size: int) -> None:
        self.items.append((what, size))

    @property
    def total(self) -> int:
        return sum(size for _, size in self.items)


def projects(st: Store) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    if st.projects.is_dir():
        for d in sorted(st.projects.iterdir()):
            try:
                out.append((d, json.loads((d / "project.json").read_text())))
            except (OSError, ValueError):
                out.append((d, {}))
    return out


def is_live(pdir: Path, info: dict[str, Any]) -> bool:
    path = info.get("path")
    if path and (Path(path) / SPEC_NAME).is_file():
        return True
    return supervisor_pid(ProjectPaths(pdir)) is not None


def collect(st: Store, tier: Tier, *, dry_run: bool = False) -> Freed:
    remove = remover(tier)
    freed = Freed()

    def drop(path: Path, what: str) -> None:
        freed.add(what, store.disk_usage(path))
        if not dry_run:
            remove(path)

    with store.gc_lock(st, exclusive=True):
        if not dry_run:
            for tmp in store.clean_stale(st, remove):
                freed.add(f"temp dir of a build that died: {tmp.name}", 0)
        used: set[str] = set()
        caches: set[str] = set()
        keep_all_caches = False
        for pdir, info in projects(st):
            if is_live(pdir, info):
                used.update(info.get("stack", []))
                caches.add(info.get("apt_cache", ""))
                keep_all_caches |= "apt_cache" not in info  # recorded before caches were
            else:
                drop(pdir, f"project {info.get('name', pdir.name)} ({info.get('path', '?')})")
        if st.layers.is_dir():
            for layer in sorted(st.layers.iterdir()):
                if layer.name.startswith(store.TMP_PREFIX) or layer.name in used:
                    continue
                with store.flocked(st.layer_lock(layer.name), blocking=False) as free:
                    if free:
                        title = _title(layer)
                        drop(layer, f"layer {layer.name[:12]} {title}")
        apt = st.cache / "apt"
        if apt.is_dir() and not keep_all_caches:
            for cache in sorted(apt.iterdir()):
                if cache.name not in caches:
                    drop(cache, f"apt cache {cache.name}")
        if not dry_run:
            store.drop_dangling_aliases(st)
            _old_logs(st)
            _orphan_locks(st)
    return freed


def _title(layer: Path) -> str:
    try:
        return str(json.loads((layer / "meta.json").read_text()).get("title", ""))
    except (OSError, ValueError):
        return "(incomplete)"


def _old_logs(st: Store) -> None:
    if st.logs.is_dir():
        cutoff = time.time() - LOG_DAYS * 86400
        for log in st.logs.iterdir():
            if log.stat().st_mtime < cutoff:
                log.unlink(missing_ok=True)


def _orphan_locks(st: Store) -> None:
    if st.locks.is_dir():
        for lock in st.locks.glob("*.lock"):
            if not st.layer_dir(lock.stem).exists():
                with store.flocked(lock, blocking=False) as free:
                    if free:
                        lock.unlink(missing_ok=True)
