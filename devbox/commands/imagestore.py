"""The images part of the store as `gc` and `ls` read it: layers' metas (their kind, an image
base's lowers and pins), image records, the blob cache and pulls being staged.

Everything here is the store's own bookkeeping (written by devbox and skopeo as the user), never
a layer's content. Malformed entries are skipped, not fatal: gc keeps what it cannot read.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.store.fs import Remover, flocked
from devbox.store.paths import Store

HEX = re.compile(r"[0-9a-f]{64}")
STAGING = ".tmp-"  # a pull stages in Store.oci/.tmp-<name>, holding .tmp-<name>.lock
IMAGE_LAYER = "image-layer"
IMAGE_BASE = "oci"


def read_meta(layer: Path) -> dict[str, Any] | None:
    """A layer's meta.json as a dict, or None if it is missing or not a JSON object."""
    try:
        data = json.loads((layer / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def kind(meta: dict[str, Any] | None) -> str:
    return str(meta.get("kind") or "") if meta else ""


def lowers(meta: dict[str, Any] | None) -> list[str]:
    """The image layers an image base names (LayerMeta.lowers), bottom first."""
    found = meta.get("lowers") if meta else None
    return [d for d in found if isinstance(d, str)] if isinstance(found, list) else []


def manifest_hex(meta: dict[str, Any] | None) -> str | None:
    """The hex of the manifest an image base was built from (its pins' "manifest")."""
    pins = meta.get("pins") if meta else None
    manifest = pins.get("manifest") if isinstance(pins, dict) else None
    if isinstance(manifest, str) and manifest.startswith("sha256:"):
        hexpart = manifest[len("sha256:") :]
        if HEX.fullmatch(hexpart):
            return hexpart
    return None


def record_blobs(record: dict[str, Any]) -> set[str]:
    """The blob hexes an image record names: its config and its layers."""
    digests: list[Any] = [record.get("config")]
    layers = record.get("layers")
    if isinstance(layers, list):
        digests += [entry.get("digest") for entry in layers if isinstance(entry, dict)]
    return {
        d[len("sha256:") :]
        for d in digests
        if isinstance(d, str) and d.startswith("sha256:") and HEX.fullmatch(d[len("sha256:") :])
    }


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def records(st: Store) -> list[Path]:
    """The image record files (images/<manifest hex>.json), sorted."""
    if not st.images.is_dir():
        return []
    return sorted(p for p in st.images.iterdir() if p.name.endswith(".json"))


def on_disk(path: Path) -> int:
    """Bytes a file uses on disk (0 if it is gone)."""
    try:
        return os.lstat(path).st_blocks * 512
    except OSError:
        return 0


@dataclass(frozen=True)
class Blob:
    path: Path
    hexdigest: str
    size: int  # bytes on disk


def blobs(st: Store) -> list[Blob]:
    """Every entry of the blob cache (blobs/sha256/*), sorted by name."""
    where = st.blobs / "sha256"
    if not where.is_dir():
        return []
    return [Blob(p, p.name, on_disk(p)) for p in sorted(where.iterdir())]


def wanted_layers(metas: dict[str, dict[str, Any] | None], live: Iterable[str]) -> set[str]:
    """The image layers that the live layers' lowers name."""
    out: set[str] = set()
    for digest in live:
        out.update(lowers(metas.get(digest)))
    return out


def wanted_records(metas: dict[str, dict[str, Any] | None], live: Iterable[str]) -> set[str]:
    """The manifest hexes that live image bases were built from."""
    out: set[str] = set()
    for digest in live:
        meta = metas.get(digest)
        found = manifest_hex(meta) if kind(meta) == IMAGE_BASE else None
        if found:
            out.add(found)
    return out


def staging(st: Store) -> list[tuple[Path, Path]]:
    """Pulls' staging dirs and their locks: (Store.oci/.tmp-NAME, Store.oci/.tmp-NAME.lock),
    including a lock left without its dir (then the first is the path that would be the dir)."""
    if not st.oci.is_dir():
        return []
    names: set[str] = set()
    for entry in st.oci.iterdir():
        if entry.name.startswith(STAGING):
            names.add(entry.name.removesuffix(".lock"))
    return [(st.oci / name, st.oci / f"{name}.lock") for name in sorted(names)]


def clean_staging(st: Store, remove: Remover, *, dry_run: bool) -> tuple[list[Path], bool]:
    """Remove the staging dirs of pulls that died (their lock is free), and their locks.
    Returns what was (or would be) removed, and whether a pull is under way."""
    removed: list[Path] = []
    busy = False
    for tmp, lock in staging(st):
        if dry_run and not lock.exists():  # nothing holds it (flocked would make the file)
            if tmp.exists() or tmp.is_symlink():
                removed.append(tmp)
            continue
        with flocked(lock, blocking=False) as free:
            if not free:
                busy = True
                continue
            if tmp.exists() or tmp.is_symlink():
                removed.append(tmp)
                if not dry_run:
                    remove(tmp)
            if not dry_run:
                lock.unlink(missing_ok=True)
    return removed, busy
