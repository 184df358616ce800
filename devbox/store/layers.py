"""The content-addressed layer store.

A layer is `layers/<digest>/{rootfs/, meta.json}`. It is built in `layers/.tmp-<digest>-*` and
renamed into place, so a layer directory is complete or absent. A per-digest lock makes a second
build of the same layer wait for the first instead of colliding.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.errors import DevboxError
from devbox.store import private
from devbox.store.fs import Remover, flocked, remove_tree
from devbox.store.paths import Store

TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class LayerMeta:
    digest: str
    kind: str
    parent: str | None
    recipe: dict[str, Any]
    title: str
    size: int
    created: float
    tier: int
    packages: dict[str, str]  # name -> version, the whole dpkg database after this layer
    arch: str
    pins: dict[str, Any] | None = None  # what it resolved to (devbox.lock); None for [setup]
    request: str | None = None  # the plan's request digest it was built for
    # an image base ("oci"): the image's layers (store layers of kind "image-layer"), bottom
    # first, mounted right below this one (expand)
    lowers: list[str] | None = None
    # an image base ("oci", "rootfs"): its OS, whether it has apt, its config's Env and WorkingDir
    image: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LayerMeta:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def has_layer(store: Store, digest: str) -> bool:
    return store.layer_meta(digest).is_file()


def mark_used(store: Store, digests: Iterable[str]) -> None:
    """Stamp layers as used now (their directory's mtime), for `devbox gc --older-than`.
    Best effort: a read-only store is still usable."""
    for digest in digests:
        with contextlib.suppress(OSError):
            os.utime(store.layer_dir(digest))


def expand(store: Store, stack: Iterable[str]) -> list[str]:
    """A box's stack as overlay lower dirs, bottom first: each image base ("oci" layer) with
    its image's layers right below it. A layer whose meta is missing or damaged is left as it is
    (whoever mounts it reports it)."""
    out: list[str] = []
    for digest in stack:
        try:
            data = json.loads(store.layer_meta(digest).read_text())
        except (OSError, ValueError):
            data = None
        lowers = data.get("lowers") if isinstance(data, dict) else None
        if isinstance(lowers, list):
            out.extend(d for d in lowers if isinstance(d, str))
        out.append(digest)
    return out


def size_of(store: Store, meta: LayerMeta) -> int:
    """A layer's size on disk, with its image's layers (an image base) counted in."""
    size = meta.size
    for digest in meta.lowers or ():
        with contextlib.suppress(DevboxError):
            size += read_meta(store, digest).size
    return size


def read_meta(store: Store, digest: str) -> LayerMeta:
    try:
        data = json.loads(store.layer_meta(digest).read_text())
        return LayerMeta.from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DevboxError(
            f"layer {digest[:12]} in {store.layers} is damaged ({e})",
            hint="delete that directory and build again",
        ) from e


def download_key(integrity: str) -> str:
    """The name of a verified download in Store.downloads: a hash of its integrity string."""
    import hashlib

    return hashlib.sha256(integrity.encode()).hexdigest()[:32]


def pinned_downloads(pins: dict[str, Any]) -> list[str]:
    """The integrity strings of the artifacts a layer with these pins was built from."""
    out = [pins[k] for k in ("integrity", "npm-integrity") if isinstance(pins.get(k), str)]
    if isinstance(pins.get("uv-sha256"), str):
        out.append(f"sha256:{pins['uv-sha256']}")
    return out


def read_alias(store: Store, key: str) -> str | None:
    """The layer an unlocked request last resolved to (see plan.layer_key), if recorded."""
    try:
        target = (store.resolved / key).read_text().strip()
    except OSError:
        return None
    return target or None


def write_alias(store: Store, key: str, target: str) -> None:
    private.mkdirs(store.resolved)
    tmp = store.resolved / f".{key}.new"
    tmp.write_text(target + "\n")
    os.replace(tmp, store.resolved / key)


def drop_dangling_aliases(store: Store) -> int:
    """Remove aliases whose layer is gone (gc). Returns how many."""
    n = 0
    if store.resolved.is_dir():
        for entry in store.resolved.iterdir():
            target = read_alias(store, entry.name)
            if target is None or not has_layer(store, target):
                entry.unlink(missing_ok=True)
                n += 1
    return n


class LayerBuild:
    """A layer under construction: a temp dir beside its final place, committed by rename."""

    def __init__(self, store: Store, digest: str, remove: Remover = remove_tree) -> None:
        self.store = store
        self.digest = digest
        self.remove = remove
        private.mkdirs(store.layers)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{digest}-", dir=store.layers))
        for sub in ("rootfs", "work", "merged", "out"):
            (self.tmp / sub).mkdir()
        self.tmp.chmod(0o755)

    @property
    def rootfs(self) -> Path:
        return self.tmp / "rootfs"

    def commit(self, meta: LayerMeta) -> bool:
        """Rename the finished layer into place as `meta.digest`. False if that layer appeared
        meanwhile (another build resolved to the same layer): the caller aborts this one."""
        for sub in ("work", "merged", "out"):
            self.remove(self.tmp / sub)
        (self.tmp / "meta.json").write_text(json.dumps(meta.to_json(), indent=1, sort_keys=True))
        try:
            os.rename(self.tmp, self.store.layer_dir(meta.digest))
        except OSError as e:
            if has_layer(self.store, meta.digest):
                return False
            raise e
        return True

    def abort(self) -> None:
        self.remove(self.tmp)


def clean_stale(store: Store, remove: Remover = remove_tree) -> list[Path]:
    """Remove temp dirs of builds that died (their layer lock is free)."""
    removed: list[Path] = []
    if not store.layers.is_dir():
        return removed
    for entry in store.layers.iterdir():
        if not entry.name.startswith(TMP_PREFIX):
            continue
        digest = entry.name[len(TMP_PREFIX) :].split("-", 1)[0]
        with flocked(store.layer_lock(digest), blocking=False) as got:
            if got:
                remove(entry)
                removed.append(entry)
    return removed


def gc_lock(store: Store, *, exclusive: bool) -> contextlib.AbstractContextManager[bool]:
    """Builds hold this shared; gc holds it exclusively, so it never deletes what a build uses."""
    return flocked(store.root / "gc.lock", exclusive=exclusive)
