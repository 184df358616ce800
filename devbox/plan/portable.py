"""Layer keys that travel: the same spec and lock give the same key on any machine.

A store key (`recipe.layer_key`) holds the tier's uid map, because a layer built under one map is
never entered under another. A layer that leaves the machine (an exported image, the team layer
cache) is unmapped to the box's own ids, so its key must not hold the map: it is the chain of the
layers' requests planned under the fixed map name `PORTABLE`, each layer's pins, and the Debian
architecture (a Debian base's request names no architecture). Whoever downloads such a layer maps
its ownership as it unpacks (the tier's map) and stores it under its own store key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from devbox.plan.recipe import LayerRecipe, Pins, plan
from devbox.spec.model import Spec

PORTABLE = "portable"
VERSION = 1  # bump when what a portable key names changes


def portable_plan(spec: Spec, input_hashes: dict[str, str] | None = None) -> list[LayerRecipe]:
    """The box's layers as the plan gives them, with no uid map in their requests."""
    return plan(spec, input_hashes, idmap=PORTABLE)


def chain(layers: Sequence[LayerRecipe], pins: Sequence[Pins | None], arch: str) -> list[str]:
    """The portable key of each layer, bottom first: its request (planned under `PORTABLE`),
    the portable key of the layer below, what it resolved to, and the architecture. `pins[i]`
    is what layer i resolved to (a built layer's `LayerMeta.pins`, or devbox.lock's pins before
    a build; None for a `[setup]` layer)."""
    if len(layers) != len(pins):
        raise ValueError("one pins entry per layer")
    keys: list[str] = []
    parent: str | None = None
    for layer, got in zip(layers, pins):
        doc = {"v": VERSION, "request": layer.digest, "parent": parent, "pins": got,
               "arch": arch}  # fmt: skip
        blob = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        parent = hashlib.sha256(blob).hexdigest()
        keys.append(parent)
    return keys
