"""`devbox gc`: delete what no live project uses, and say how much it freed.

A project is live while its directory still has its devbox.toml (or a session is in its box;
an idle box of a deleted project is stopped first).
Layers, writable layers, isolated homes, apt caches and the by-path index entries of dead
projects go; so do temp dirs of builds that died. Files owned by subuids are deleted from inside
the user namespace (tier 2).

Images: an image layer (kind "image-layer") is live while a live layer's `lowers` names it; an
image record while a live image base (kind "oci") was built from its manifest; a cached blob
while a live image record names it (its config or a layer). Staging dirs of pulls that died
(their lock free) go; while a pull is under way no blob goes (its record is not written yet).

`--older-than` keeps what was used recently even if no live project uses it now: a dead
project's state and an unused layer go only when their last use is older than the cutoff. A
layer's last use is the later of its directory's mtime (stamped when a build or a session uses
it, see store.mark_used) and the last use of any project, live or dead, that recorded it.
A kept project keeps the layers of its newest generations too (`--keep`, history.keep).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devbox.activation import desktop, hookcache
from devbox.commands import imagestore as images
from devbox.history import keep as hist
from devbox.sandbox import limits, sessions
from devbox.sandbox.host import Tier, remover
from devbox.sandbox.sessions import supervisor_pid
from devbox.spec.model import SPEC_NAME
from devbox.store import fs, projects
from devbox.store import layers as store
from devbox.store.paths import ProjectPaths, Store

LOG_DAYS = 14
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DURATION_HELP = "a number and a unit (s, m, h, d, w), e.g. 30d, 12h, 90m or 1d12h"


def parse_duration(text: str) -> float:
    """Seconds in '30d', '12h', '90m', '45s', '2w' or a sum such as '1d12h'.
    Raises ValueError saying what is allowed."""
    compact = text.strip().lower()
    if not re.fullmatch(r"(?:\d+[smhdw])+", compact):
        raise ValueError(f"{text!r} is not a duration: expected {DURATION_HELP}")
    return float(sum(int(n) * UNITS[unit] for n, unit in re.findall(r"(\d+)([smhdw])", compact)))


@dataclass
class Freed:
    items: list[tuple[str, int]] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # unused, but used within --older-than
    image_layers: int = 0  # of the layers in items
    blobs: int = 0
    blob_bytes: int = 0

    def add(self, what: str, size: int) -> None:
        self.items.append((what, size))

    @property
    def total(self) -> int:
        return sum(size for _, size in self.items)

    def counts(self) -> list[str]:
        """What images gave back, counted apart: "2 image layers", "5 cached blobs (3.1 MiB)"."""
        out = []
        if self.image_layers:
            out.append(f"{self.image_layers} image layer{'s' * (self.image_layers != 1)}")
        if self.blobs:
            mib = self.blob_bytes / 2**20
            out.append(f"{self.blobs} cached blob{'s' * (self.blobs != 1)} ({mib:.1f} MiB)")
        return out


def is_live(pdir: Path, info: dict[str, Any], *, stop_idle: bool = False) -> bool:
    """A project is live while its devbox.toml exists or a session is in its box. An idle box
    of a dead project does not keep it: with `stop_idle` it is stopped."""
    path = info.get("path")
    if path and (Path(path) / SPEC_NAME).is_file():
        return True
    paths = ProjectPaths(pdir)
    if stop_idle:  # a deleted project's services go with it
        from devbox.services import supervise

        supervise.stop_everything(supervise.Files.of(paths))
    if supervisor_pid(paths) is None:
        return False
    return not sessions.stop(paths) if stop_idle else sessions.inside(paths)


def last_used(pdir: Path, info: dict[str, Any]) -> float | None:
    """The later of the last build's registration and the last start or stop of the box."""
    stamps: list[float] = []
    updated = info.get("updated")
    if isinstance(updated, (int, float)):
        stamps.append(float(updated))
    try:
        stamps.append(ProjectPaths(pdir).run.stat().st_mtime)
    except OSError:
        pass
    return max(stamps) if stamps else None


def layer_last_used(layer: Path, by_projects: dict[str, float]) -> float:
    """When a layer was last built or used: its stamp, or a project's use of it."""
    try:
        stamp = layer.stat().st_mtime
    except OSError:
        stamp = 0.0
    return max(stamp, by_projects.get(layer.name, 0.0))


def collect(
    st: Store,
    tier: Tier,
    *,
    dry_run: bool = False,
    older_than: float | None = None,
    now: float | None = None,
    generations_kept: int = hist.DEFAULT_KEEP,
) -> Freed:
    """Delete what no live project uses; with `older_than` (seconds), only what was last used
    longer ago than that. `generations_kept`: how many generations of a kept project keep
    their layers."""
    remove = remover(tier)
    freed = Freed()
    cutoff = None if older_than is None else (time.time() if now is None else now) - older_than

    dropped: set[Path] = set()

    def drop(path: Path, what: str) -> None:
        freed.add(what, fs.disk_usage(path))
        dropped.add(path)
        if not dry_run:
            remove(path)

    with store.gc_lock(st, exclusive=True):
        if not dry_run:
            for tmp in store.clean_stale(st, remove):
                freed.add(f"temp dir of a build that died: {tmp.name}", 0)
        used: set[str] = set()
        caches: set[str] = set()
        keep_all_caches = False
        by_projects: dict[str, float] = {}  # digest -> the last use of a project that used it
        for pdir, info in projects.registered(st):
            stack = [d for d in info.get("stack", []) if isinstance(d, str)]
            used_at = last_used(pdir, info) or 0.0
            for digest in stack:
                by_projects[digest] = max(by_projects.get(digest, 0.0), used_at)
            live = is_live(pdir, info, stop_idle=not dry_run)
            what = f"project {info.get('name', pdir.name)} ({info.get('path', '?')})"
            if live or (cutoff is not None and used_at > cutoff):
                used.update(stack)
                used |= hist.kept_layers(st, pdir.name, stack, generations_kept, dry_run=dry_run)
                caches.add(info.get("apt_cache", ""))
                keep_all_caches |= "apt_cache" not in info  # recorded before caches were
                if not live:
                    freed.kept.append(what)
            else:
                drop(pdir, what)
                hist.forget(st, pdir.name, dry_run=dry_run)
                if not dry_run:  # its box's cgroups ([limits]), empty now
                    limits.forget(tier, limits.box_key(str(st.root), pdir.name))
        entries = sorted(st.layers.iterdir()) if st.layers.is_dir() else []
        entries = [e for e in entries if not e.name.startswith(store.TMP_PREFIX)]
        metas = {e.name: images.read_meta(e) for e in entries}
        keep: set[str] = set()  # the layers gc keeps

        def consider(layer: Path) -> None:
            """An unused layer: kept if used within the cutoff or being built, else dropped."""
            if cutoff is not None and layer_last_used(layer, by_projects) > cutoff:
                freed.kept.append(f"layer {layer.name[:12]} {_title(layer)}")
                keep.add(layer.name)
                return
            with fs.flocked(st.layer_lock(layer.name), blocking=False) as free:
                if not free:
                    keep.add(layer.name)
                    return
                drop(layer, f"layer {layer.name[:12]} {_title(layer)}")
                freed.image_layers += images.kind(metas[layer.name]) == images.IMAGE_LAYER

        image_layers = [e for e in entries if images.kind(metas[e.name]) == images.IMAGE_LAYER]
        for layer in entries:
            if layer in image_layers:
                continue
            if layer.name in used:
                keep.add(layer.name)
            else:
                consider(layer)
        # image layers last: one is live while a layer kept above names it in its lowers
        wanted = used | images.wanted_layers(metas, keep)
        for layer in image_layers:
            if layer.name in wanted:
                keep.add(layer.name)
            else:
                consider(layer)
        _images(st, remove, metas, keep, drop, freed, dry_run=dry_run)
        apt = st.cache / "apt"
        if apt.is_dir() and not keep_all_caches:
            for cache in sorted(apt.iterdir()):
                if cache.name not in caches:
                    drop(cache, f"apt cache {cache.name}")
        if st.downloads.is_dir():
            wanted = _wanted_downloads(st, dropped)
            for entry in sorted(st.downloads.iterdir()):
                if entry.name not in wanted:
                    drop(entry, f"download {entry.name[:12]} no kept layer was built from")
        for gone in desktop.forget_deleted(dry_run=dry_run):
            freed.add(f"desktop entries of deleted project {gone}", 0)
        if not dry_run:
            hookcache.clear()  # the hook's kept activations: made again at the next cd
            store.drop_dangling_aliases(st)
            projects.drop_dangling_index(st)  # the entries of the projects dropped above
            _old_logs(st)
            _orphan_locks(st)
    return freed


def _images(
    st: Store,
    remove: fs.Remover,
    metas: dict[str, dict[str, Any] | None],
    live: set[str],
    drop: Callable[[Path, str], None],
    freed: Freed,
    *,
    dry_run: bool,
) -> None:
    """Pulls that died, image records no live image base was built from, and cached blobs no
    kept record names."""
    stale, pulling = images.clean_staging(st, remove, dry_run=dry_run)
    for tmp in stale:
        freed.add(f"staging dir of a pull that died: {tmp.name}", 0)
    if pulling:  # its blobs are in the cache before its record is written
        freed.kept.append("image records and cached blobs: a pull is under way")
        return
    wanted = images.wanted_records(metas, live)
    blobs: set[str] = set()
    for path in images.records(st):
        record = images.read_record(path) or {}
        if path.name.removesuffix(".json") in wanted:
            blobs |= images.record_blobs(record)
        else:
            drop(path, f"image record {record.get('ref', path.name)}")
    for blob in images.blobs(st):
        if blob.hexdigest not in blobs:
            freed.blobs += 1
            freed.blob_bytes += blob.size
            if not dry_run:
                blob.path.unlink(missing_ok=True)
    if freed.blobs:
        freed.add(f"{freed.blobs} cached blob(s) no kept image names", freed.blob_bytes)


def _wanted_downloads(st: Store, dropped: set[Path]) -> set[str]:
    """Cache keys (store.download_key) of what the layers gc keeps were built from."""
    wanted: set[str] = set()
    if not st.layers.is_dir():
        return wanted
    for layer in st.layers.iterdir():
        if layer in dropped or layer.name.startswith(store.TMP_PREFIX):
            continue
        try:
            pins = json.loads((layer / "meta.json").read_text()).get("pins") or {}
        except (OSError, ValueError):
            continue
        wanted.update(store.download_key(i) for i in store.pinned_downloads(pins))
    return wanted


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
                with fs.flocked(lock, blocking=False) as free:
                    if free:
                        lock.unlink(missing_ok=True)
