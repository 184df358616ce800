"""Pulling an image into the store's blob cache, all or nothing.

A pull resolves the reference to one manifest (an index: this machine's platform), then lets
skopeo copy it into a staging dir (`oci/.tmp-*`, held by an flock) whose blob dir already holds
hard links to every blob of the image the cache has, so skopeo downloads only the others. Only
when the whole image arrived are its new blobs linked into the cache and its record written: a
failed or interrupted pull leaves the cache as it was (gc removes a dead pull's staging dir).

The cache is the user's own (written by skopeo, which verifies each blob's digest); what a blob
holds is untrusted, and is unpacked only by devbox.oci.unpack, which checks its digest again.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.errors import DevboxError
from devbox.oci import manifest as mf
from devbox.oci import skopeo
from devbox.store import private
from devbox.store.fs import flocked, remove_tree
from devbox.store.paths import Store

STAGING = ".tmp-"


@dataclass(frozen=True)
class Image:
    """An image in the store: what its record says."""

    ref: str
    manifest: str  # digest of the manifest (for this platform)
    index: str | None  # digest of the index it was chosen from, if the reference named one
    platform: str
    config: mf.Config
    layers: tuple[mf.Blob, ...]  # bottom first; layers[i] unpacks to config.diff_ids[i]
    config_digest: str
    fetched: tuple[str, ...] = ()  # the blobs this pull put in the cache

    @property
    def pins(self) -> dict[str, Any]:
        """What devbox.lock records of it."""
        return {"manifest": self.manifest, "index": self.index or "", "platform": self.platform}


def blob_path(st: Store, digest: str) -> Path:
    return blob_path_in(st.blobs, digest)


def resolve(
    ref: mf.Reference, pins: dict[str, Any] | None, log: Path
) -> tuple[str, str, str, bytes | None]:
    """(manifest digest, index digest or "", platform, the manifest if already fetched) for
    `ref`: the lock's pins when given (pulled by digest: a moved tag changes nothing), else what
    the registry says now."""
    if pins and isinstance(pins.get("manifest"), str):
        return pins["manifest"], str(pins.get("index") or ""), str(pins.get("platform") or ""), None
    # a tag beside a digest: the digest wins (skopeo takes no reference with both)
    raw = skopeo.inspect_raw(ref.by_digest(ref.digest) if ref.digest else str(ref), log)
    top = mf.digest_of(raw)
    if ref.digest is not None and top != ref.digest:
        raise DevboxError(f"{ref}: the registry sent a manifest whose digest is {top}")
    if mf.kind(raw) == "index":
        chosen, plat = mf.choose(raw)
        return chosen, top, plat, None
    return top, "", "", raw


def pull(
    st: Store,
    text: str,
    pins: dict[str, Any] | None,
    log: Path,
    say: Callable[[str], None] = lambda _: None,
) -> Image:
    """The image `text` (a reference) in the store, pulled if its blobs are not all there."""
    ref = mf.parse_reference(text)
    manifest_digest, index, plat, raw = resolve(ref, pins, log)
    by_digest = ref.by_digest(manifest_digest)
    if raw is None:
        raw = skopeo.inspect_raw(by_digest, log)
    if mf.digest_of(raw) != manifest_digest:
        raise DevboxError(f"{by_digest}: the registry sent a manifest with another digest")
    if mf.kind(raw) != "manifest":
        raise DevboxError(f"{by_digest} is an index inside an index, which devbox does not read")
    m = mf.parse_manifest(raw)
    wanted = [m.config, *m.layers]
    missing = [b for b in wanted if not blob_path(st, b.digest).is_file()]
    fresh_record = not record_path(st, manifest_digest).exists()
    if missing:
        size = sum(b.size for b in missing) / 2**20
        say(f"downloading {len(missing)} of {len(wanted)} blobs ({size:.1f} MiB)")
        _fetch(st, by_digest, wanted, log, say)
    try:
        config = mf.parse_config(_read_blob(st, m.config))
        if len(config.diff_ids) != len(m.layers):
            raise DevboxError(f"{by_digest}: the config names {len(config.diff_ids)} layers, "
                              f"the manifest {len(m.layers)}")  # fmt: skip
    except DevboxError:
        if fresh_record:
            for b in missing:
                blob_path(st, b.digest).unlink(missing_ok=True)
        raise
    if not plat:
        plat = mf.platform_name(config.os or "linux", config.arch, config.variant)
    fetched = tuple(b.digest for b in missing) if fresh_record else ()
    image = Image(text, manifest_digest, index or None, plat, config, m.layers, m.config.digest,
                  fetched)  # fmt: skip
    _record(st, image)
    return image


def forget(st: Store, image: Image) -> None:
    """Undo a pull whose image was refused: its record and the blobs it brought."""
    if not image.fetched:
        return
    for digest in image.fetched:
        blob_path(st, digest).unlink(missing_ok=True)
    record_path(st, image.manifest).unlink(missing_ok=True)


def _fetch(
    st: Store, ref: str, wanted: list[mf.Blob], log: Path, say: Callable[[str], None]
) -> None:
    private.mkdirs(st.oci)
    stage = Path(tempfile.mkdtemp(prefix=STAGING, dir=st.oci))
    with flocked(stage.with_name(stage.name + ".lock")):
        try:
            blobs = stage / "blobs"
            (blobs / "sha256").mkdir(parents=True)
            for b in wanted:  # what the cache has, skopeo finds and skips
                with contextlib.suppress(FileNotFoundError):
                    os.link(blob_path(st, b.digest), blob_path_in(blobs, b.digest))
            sizes = {b.digest: b.size for b in wanted}
            skopeo.copy(ref, stage / "layout", blobs, log, lambda line: _progress(line, sizes, say))
            (st.blobs / "sha256").mkdir(parents=True, exist_ok=True)
            for b in wanted:
                src = blob_path_in(blobs, b.digest)
                if not src.is_file():
                    raise DevboxError(f"pulling {ref}: skopeo did not fetch {b.digest}")
                with contextlib.suppress(FileExistsError):
                    os.link(src, blob_path(st, b.digest))
        finally:
            remove_tree(stage)
    with contextlib.suppress(OSError):
        os.unlink(stage.with_name(stage.name + ".lock"))


def blob_path_in(blobs: Path, digest: str) -> Path:
    algo, _, hexdigest = digest.partition(":")
    return blobs / algo / hexdigest


def _progress(line: str, sizes: dict[str, int], say: Callable[[str], None]) -> None:
    """skopeo's per-blob lines ("Copying blob sha256:... done") as the build's status."""
    words = line.split()
    for w in words:
        if w.startswith("sha256:") and w[:71] in sizes:
            size = sizes[w[:71]]
            say(f"{' '.join(words[:2]).lower()} {w[7:19]} ({size / 2**20:.1f} MiB)")
            return


def _read_blob(st: Store, b: mf.Blob, limit: int = 1 << 22) -> bytes:
    """A small blob (a config) from the cache, its digest checked."""
    path = blob_path(st, b.digest)
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit or mf.digest_of(data) != b.digest:
        with contextlib.suppress(OSError):
            path.unlink()
        raise DevboxError(f"the cached blob {b.digest} was damaged; devbox removed it",
                          hint="run the command again to download it afresh")  # fmt: skip
    return data


def record_path(st: Store, manifest_digest: str) -> Path:
    return st.images / (manifest_digest.partition(":")[2] + ".json")


def _record(st: Store, image: Image) -> None:
    doc = {
        "ref": image.ref,
        "manifest": image.manifest,
        "index": image.index,
        "platform": image.platform,
        "config": image.config_digest,
        "layers": [
            {"digest": b.digest, "diff_id": d, "media_type": b.media_type, "size": b.size}
            for b, d in zip(image.layers, image.config.diff_ids)
        ],
        "pulled": time.time(),
    }
    private.mkdirs(st.images)
    path = record_path(st, image.manifest)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, path)
