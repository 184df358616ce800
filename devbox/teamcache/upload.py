"""`devbox build --push-cache`: each layer of the box the team cache lacks, packed
(`publish.pack_layer`) and pushed as a one-layer image `REPO:<portable key>`.

An image base's own layers stay in their registry (a box on it pulls them from there); every
other layer kind goes up. Each tag is inspected first, so a layer is uploaded once per team.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devbox.errors import DevboxError, printable
from devbox.oci import skopeo
from devbox.publish.layout import write_layout
from devbox.publish.packed import pack_layer, staging
from devbox.publish.send import push_layout
from devbox.sandbox.host import Tier
from devbox.spec.model import Spec
from devbox.store import layers as store
from devbox.store.paths import Store
from devbox.teamcache import records
from devbox.teamcache.lookup import NOT_THERE, host_arch, portable_keys, registry_of
from devbox.teamcache.records import Display

FAILED = "the build succeeded, but pushing to the team cache failed"


def push_cache(
    spec: Spec, st: Store, tier: Tier, metas: list[store.LayerMeta], display: Display
) -> int:
    """Push the layers of the built box `metas` that the team cache lacks; how many."""
    registry = registry_of(spec)
    if registry is None:
        raise DevboxError(f"{FAILED}: no team cache is set",
                          hint='set [cache] registry = "HOST[:PORT]/REPO" in devbox.toml, or '
                          "DEVBOX_CACHE")  # fmt: skip
    from devbox.plan.recipe import plan

    layers = plan(spec, idmap=tier.key)
    keys = portable_keys(spec, layers, [m.pins for m in metas])
    log = st.logs / f"{time.strftime('%Y%m%d-%H%M%S')}-{spec.name}-push-cache.log"
    n, pushed = len(metas), 0
    for i, (meta, key) in enumerate(zip(metas, keys), 1):
        label = f"[{i}/{n}] {meta.title}"
        if meta.kind == "oci":
            display.info(f"{label}: an image base: its layers stay in its own registry")
            continue
        ref = f"{registry}:{key}"
        try:
            if _there(ref, log):
                display.info(f"{label}: in the team cache already")
                continue
            start = time.monotonic()
            size = _push(spec, st, tier, meta, key, ref, log, _status(display, label))
        except DevboxError as e:
            raise DevboxError(f"{FAILED} ({printable(meta.title)}): {e.message}", hint=e.hint,
                              log=str(log)) from None  # fmt: skip
        pushed += 1
        secs = time.monotonic() - start
        display.info(f"{label}: pushed to the team cache ({size / 2**20:.1f} MiB in {secs:.1f}s)")
    return pushed


def _status(display: Display, label: str) -> Callable[[str], None]:
    return lambda msg: display.status(f"{label}  {msg}")


def _there(ref: str, log: Path) -> bool:
    try:
        skopeo.inspect_raw(ref, log)
    except DevboxError as e:
        if NOT_THERE in e.message:
            return False
        raise
    return True


def _push(
    spec: Spec, st: Store, tier: Tier, meta: store.LayerMeta, key: str, ref: str, log: Path,
    say: Callable[[str], None],
) -> int:  # fmt: skip
    packed = pack_layer(st, tier, meta.digest, log, say)
    labels = records.labels_for(spec, host_arch(), [records.record_of(meta, key)])
    config: dict[str, Any] = {"config": {"Labels": labels}}
    with staging(st) as stage:
        write_layout(st, stage / "layout", [packed], config, tag=key)
        say(f"pushing {packed.size / 2**20:.1f} MiB")
        push_layout(stage / "layout", ref, log)
    return packed.size
