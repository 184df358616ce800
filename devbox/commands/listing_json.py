"""`devbox ls --json`: the same facts as `devbox ls`, for scripts and editors (docs/spec.md)."""

from __future__ import annotations

from typing import Any

from devbox.commands.columns import iso
from devbox.commands.listing import read, suite_of
from devbox.store.paths import Store


def listing_json(st: Store) -> dict[str, Any]:
    """`devbox ls --json`: the same facts as `listing`, sizes in bytes (docs/spec.md)."""
    data = read(st)
    users = data.users()
    shared, shared_bytes = data.shared_image_layers()
    return {
        "store": str(st.root),
        "total_bytes": data.total(),
        "caches_bytes": data.caches,
        "images_bytes": data.oci,
        "blob_cache": {"count": data.blobs[0], "bytes": data.blobs[1]},
        "shared_image_layers": {"count": shared, "bytes": shared_bytes},
        "boxes": [
            {
                "name": b.name,
                "path": b.path,
                "gone": b.gone,
                "running": b.running,
                "layers": list(b.stack),
                "image_layers": [d for d in b.layers if d not in b.stack],
                "missing_layers": [d for d in b.layers if d not in data.layers],
                "size_bytes": data.box_size(b),
                "writable_bytes": b.writable,
                "last_used": iso(b.used),
            }
            for b in data.boxes
        ],
        "layers": [
            {
                "digest": r.digest,
                "kind": r.kind or None,
                "title": r.title,
                "resolved": r.resolved,
                "suite": suite_of(data.layers, r.digest),
                "tier": r.tier,
                "size_bytes": r.size,
                "created": iso(r.created),
                "used_by": [b.path for b in users.get(r.digest, [])],
            }
            for r in data.ordered()
        ],
    }
