"""A downloaded layer (a team-cache entry, a pulled devbox image's layer) into a store layer.

The blob goes through the image unpacker (`oci.layers`: its own process in the tier's user
namespace, so the owners are mapped through this machine's uid map; no `..`, no writing through
a link, digests checked as it streams). What the layer is (its dpkg database, an image base's OS)
is then read from the unpacked files without following a link (`oci.probe`), never taken from
the image's labels.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

from devbox.errors import DevboxError
from devbox.oci import layers, probe, pull
from devbox.oci import manifest as mf
from devbox.plan.recipe import LayerRecipe, Pins
from devbox.sandbox.host import Tier
from devbox.store import layers as store
from devbox.store.paths import Store

REFUSED = " is refused: "


class Refused(Exception):
    """A downloaded layer that is not what it should be (its record, or its files)."""


def unpack_blob(st: Store, tier: Tier, into: Path, blob: mf.Blob, diff_id: str, log: Path,
                what: str) -> None:  # fmt: skip
    """Unpack the cached blob into the empty directory `into`; Refused for a hostile or damaged
    layer (the caller removes `into`)."""
    argv = layers.unpack_argv(tier, into, blob.media_type, blob=pull.blob_path(st, blob.digest),
                              digest=blob.digest, diff_id=diff_id)  # fmt: skip
    try:
        layers.run_unpacker(argv, log, what)
    except DevboxError as e:
        if REFUSED in e.message:
            raise Refused(e.message.partition(REFUSED)[2]) from None
        raise


def unpack(st: Store, tier: Tier, lb: store.LayerBuild, image: pull.Image, log: Path,
           what: str) -> None:  # fmt: skip
    """A one-layer image's layer into the layer under construction."""
    unpack_blob(st, tier, lb.rootfs, image.layers[0], image.config.diff_ids[0], log, what)


def describe(
    roots: list[Path], layer: LayerRecipe, pins: Pins | None, below: list[store.LayerMeta],
) -> tuple[dict[str, str], str, dict[str, Any] | None]:  # fmt: skip
    """(the dpkg database after this layer, the layer's architecture, an image base's
    description) read from the unpacked files; Refused when a lockable layer's files do not
    hold the packages its pins name. `roots`: the layer's files and those below, top first."""
    rows = probe.dpkg_packages(roots)
    packages = dict(sorted((name, version) for name, version, _ in rows if version))
    arches = collections.Counter(a for _, _, a in rows if a != "all")
    arch = arches.most_common(1)[0][0] if arches else (below[0].arch if below else "unknown")
    if layer.lockable and pins is not None:
        previous = below[-1].packages if below else {}
        delta = {k: v for k, v in packages.items() if previous.get(k) != v}
        if delta != pins.get("packages", {}):
            raise Refused("its files do not hold the packages devbox.lock pins")
    info: dict[str, Any] | None = None
    if layer.kind == "rootfs":
        release = probe.os_release(roots)
        info = {"os": probe.os_name(release), "os_id": release.get("ID", ""),
                "apt": probe.has_apt(roots), "env": [], "workdir": "", "arch": ""}  # fmt: skip
    return packages, arch, info
