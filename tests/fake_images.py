"""A store with images in it, built by hand (devbox gc, devbox ls): image layers, image bases,
image records, cached blobs and a pull's staging dir, laid out as the pull and builder write
them (docs/images.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from devbox.store.layers import LayerMeta
from devbox.store.paths import Store
from tests.helpers import UPDATED, MiB, add_project

# image layers: IL1 and IL2 shared by both images, IL3 only in the second, IL4 in none
IL1, IL2, IL3, IL4 = (c * 64 for c in "1234")
OCI_A, OCI_B = "a1" * 32, "b1" * 32  # image bases: live (webimg) and dead (oldimg)
MA, MB, MX = "0a" * 32, "0b" * 32, "0c" * 32  # manifests: A, B, and a record nothing uses
CA, CB, CX = "ca" * 32, "cb" * 32, "cc" * 32  # configs
B1, B2, B3 = "b0" * 32, "b2" * 32, "b3" * 32  # layer blobs (B1 in both images)
JUNK = "ff" * 32  # a blob no record names
IMAGE_LAYER_SIZES = {IL1: 80 * MiB, IL2: 20 * MiB, IL3: 5 * MiB, IL4: 1 * MiB}
BLOB_BYTES = {CA: 4096, CB: 4096, CX: 4096, B1: 40960, B2: 8192, B3: 8192, JUNK: 4096}


def add_meta_layer(st: Store, digest: str, kind: str, title: str, size: int, **more: Any) -> None:
    d = st.layer_dir(digest)
    (d / "rootfs").mkdir(parents=True)
    meta = LayerMeta(digest, kind, None, {}, title, size, UPDATED, 2, {}, "amd64")
    (d / "meta.json").write_text(json.dumps(meta.to_json() | more))


def add_record(st: Store, manifest: str, ref: str, config: str, layers: list[str]) -> None:
    st.images.mkdir(parents=True, exist_ok=True)
    record = {
        "ref": ref,
        "manifest": f"sha256:{manifest}",
        "index": None,
        "platform": "linux/amd64",
        "config": f"sha256:{config}",
        "layers": [
            {
                "digest": f"sha256:{b}",
                "diff_id": f"sha256:{b[::-1]}",
                "media_type": "application/vnd.oci.image.layer.v1.tar+gzip",
                "size": BLOB_BYTES[b],
            }
            for b in layers
        ],
        "pulled": time.time(),
    }
    (st.images / f"{manifest}.json").write_text(json.dumps(record))


def pins(manifest: str, config: str) -> dict[str, Any]:
    return {
        "manifest": f"sha256:{manifest}",
        "index": None,
        "platform": "linux/amd64",
        "config": f"sha256:{config}",
        "packages": {},
    }


def make_image_store(root: Path) -> Store:
    """webimg (live, an image base on A), oldimg (its directory gone, an image base on B):
    A's layers are IL1 IL2, B's are IL1 IL3; IL4 and the record MX belong to nothing."""
    st = Store(root / "store")
    for digest, size in IMAGE_LAYER_SIZES.items():
        add_meta_layer(st, digest, "image-layer", f"image layer {digest[:8]}", size,
                       recipe={"diff_id": f"sha256:{digest}", "blob": "sha256:x"})  # fmt: skip
    add_meta_layer(st, OCI_A, "oci", "oci registry.test:5000/web:1", 0,
                   pins=pins(MA, CA), lowers=[IL1, IL2])  # fmt: skip
    add_meta_layer(st, OCI_B, "oci", "oci registry.test:5000/old:1", 0,
                   pins=pins(MB, CB), lowers=[IL1, IL3])  # fmt: skip
    add_record(st, MA, "registry.test:5000/web:1", CA, [B1, B2])
    add_record(st, MB, "registry.test:5000/old:1", CB, [B1, B3])
    add_record(st, MX, "registry.test:5000/gone:1", CX, [])
    (st.blobs / "sha256").mkdir(parents=True)
    for blob, size in BLOB_BYTES.items():
        (st.blobs / "sha256" / blob).write_bytes(b"b" * size)
    add_project(st, root / "src" / "webimg", "webimg", [OCI_A], spec=True, updated=UPDATED)
    add_project(st, root / "src" / "oldimg", "oldimg", [OCI_B], spec=False, updated=UPDATED)
    return st
