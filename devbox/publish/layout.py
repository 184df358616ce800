"""An image as an OCI layout directory: packed layers, a config and a manifest.

The JSON is written canonically (keys sorted, no spaces), so the same layers and config give the
same config and manifest digests on every machine. Layer blobs are hard-linked from the blob
cache (copied when the layout is on another file system).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devbox.errors import DevboxError
from devbox.oci import manifest as mf
from devbox.publish.packed import Packed, blob_path
from devbox.store.paths import Store

CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


def canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_of(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def full_config(layers: Sequence[Packed], config: dict[str, Any]) -> dict[str, Any]:
    """`config` with what the layers decide: `rootfs`, and the host's platform if unset."""
    os_, arch, variant = mf.host_platform()
    out = dict(config)
    out.setdefault("os", os_)
    out.setdefault("architecture", arch)
    if variant:
        out.setdefault("variant", variant)
    out["rootfs"] = {"type": "layers", "diff_ids": [p.diff_id for p in layers]}
    return out


def manifest_of(layers: Sequence[Packed], config_raw: bytes) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": digest_of(config_raw), "size": len(config_raw)},
        "layers": [{"mediaType": p.media_type, "digest": p.digest, "size": p.size} for p in layers],
    }
    return canonical(doc)


def _put(blobs: Path, raw: bytes) -> str:
    digest = digest_of(raw)
    (blobs / digest.removeprefix("sha256:")).write_bytes(raw)
    return digest


def _link(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_layout(
    st: Store, into: Path, layers: Sequence[Packed], config: dict[str, Any],
    tag: str | None = None,
) -> str:  # fmt: skip
    """Write the image as an OCI layout at `into` (made if missing; an empty dir or one that
    holds a layout already); returns the manifest digest. `config`: the image config without
    `rootfs` (filled from `layers`); `tag`: the layout's ref name (index annotation)."""
    blobs = into / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for p in layers:
        src = blob_path(st, p.digest)
        if not src.is_file():
            raise DevboxError(f"the packed layer {p.digest} is missing from {st.blobs}",
                              hint="export again: it is packed again")  # fmt: skip
        _link(src, blobs / p.digest.removeprefix("sha256:"))
    config_raw = canonical(full_config(layers, config))
    _put(blobs, config_raw)
    manifest_raw = manifest_of(layers, config_raw)
    digest = _put(blobs, manifest_raw)
    desc: dict[str, Any] = {"mediaType": MANIFEST, "digest": digest, "size": len(manifest_raw)}
    if tag:
        desc["annotations"] = {REF_NAME: tag}
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [desc]}
    (into / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))
    (into / "index.json").write_bytes(canonical(index))
    return digest
