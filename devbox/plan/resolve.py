"""Which built layers make up a box: the plan's requests, matched to layers in the store.

A layer is found under `plan.layer_key(request, real parent, pins)`: with pins from devbox.lock
that is the exact layer the lock describes; without (no lock, or the spec moved past it) it is
the alias an unlocked build of that request left. Only store reads: cheap enough for entering.
"""

from __future__ import annotations

from devbox.errors import DevboxError
from devbox.plan import lockfile
from devbox.plan.recipe import LayerRecipe, Pins, layer_key, plan
from devbox.spec.model import Spec
from devbox.store import layers as store
from devbox.store.paths import Store


def find(st: Store, layer: LayerRecipe, parent: str | None, pins: Pins | None) -> str | None:
    """The store's layer for this request over `parent` with these pins, if built."""
    key = layer_key(layer.digest, parent, pins)
    if store.has_layer(st, key):
        return key
    if pins is None and layer.lockable:
        target = store.read_alias(st, key)
        if target is not None and store.has_layer(st, target):
            return target
    return None


def resolved_before(st: Store, layer: LayerRecipe, parent: str | None) -> str | None:
    """The layer this request last resolved to over `parent`, if it is stored: the alias an
    unlocked build left, else the newest such layer a locked build left (for a lock whose pins
    the archive lacks: what resolving afresh gives while the archive has not moved on)."""
    found = find(st, layer, parent, None)
    if found is not None or not st.layers.is_dir():
        return found
    best: store.LayerMeta | None = None
    for entry in st.layers.iterdir():
        if entry.name.startswith(".") or not store.has_layer(st, entry.name):
            continue
        try:
            meta = store.read_meta(st, entry.name)
        except DevboxError:
            continue
        if meta.request == layer.digest and meta.parent == parent:
            if best is None or meta.created > best.created:
                best = meta
    return None if best is None else best.digest


def planned(spec: Spec, idmap: str) -> tuple[list[LayerRecipe], list[Pins | None]]:
    """The box's layers under the uid map `idmap` (the tier's key) and, per layer, the pins
    devbox.lock gives it."""
    layers = plan(spec, idmap=idmap)
    return layers, lockfile.pins_chain(lockfile.read(lockfile.lock_path(spec)), layers)


def stack(spec: Spec, st: Store, idmap: str) -> list[str] | None:
    """The digests of the box's layers, bottom first; None if any must be built first."""
    found = [digest for _, digest in partial_stack(spec, st, idmap)]
    return None if None in found else [d for d in found if d is not None]


def partial_stack(spec: Spec, st: Store, idmap: str) -> list[tuple[LayerRecipe, str | None]]:
    """Each planned layer with its built digest, or None from the first one not built on."""
    layers, pins = planned(spec, idmap)
    out: list[tuple[LayerRecipe, str | None]] = []
    parent: str | None = None
    broken = False
    for layer, p in zip(layers, pins):
        found = None if broken else find(st, layer, parent, p)
        broken = found is None
        out.append((layer, found))
        parent = found
    return out
