"""Before a layer is built: is it in the team cache? A hit is downloaded, unpacked under this
machine's uid map and stored under the local store key, as if it had been built here.

An entry is a one-layer image `REPO:<portable key>` whose one record must say the kind, the
portable key and the pins the plan and devbox.lock expect; anything else is refused (one line)
and the layer is built. A cache that cannot be reached, or refuses us, is said once and then left
alone for the rest of the build: a cache never fails a build.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from devbox.errors import DevboxError, printable
from devbox.oci import manifest as mf
from devbox.oci import pull, skopeo
from devbox.plan.portable import chain, portable_plan
from devbox.plan.recipe import LayerRecipe, Pins, layer_key
from devbox.sandbox import host
from devbox.spec.model import Spec
from devbox.spec.validate import CACHE_FORM, registry_problem
from devbox.store import fs
from devbox.store import layers as store
from devbox.store.paths import Store
from devbox.teamcache import records
from devbox.teamcache.records import Display
from devbox.teamcache.unpacking import Refused, describe, unpack

NOT_THERE = "the registry has no such image"


def registry_of(spec: Spec) -> str | None:
    """The team cache's repository: DEVBOX_CACHE if set (empty: no cache), else [cache]."""
    env = os.environ.get("DEVBOX_CACHE")
    if env is None:
        return spec.cache
    env = env.strip()
    if not env:
        return None
    problem = registry_problem(env)
    if problem is not None:
        raise DevboxError(f"DEVBOX_CACHE: {problem}", hint=f"set it to {CACHE_FORM}, or unset it")
    return env


def host_arch() -> str:
    arch = mf.host_platform()[1]
    return mf.DEB_ARCH.get(arch, arch)


def portable_keys(
    spec: Spec, layers: Sequence[LayerRecipe], pins: Sequence[Pins | None]
) -> list[str]:
    """The portable key of each layer, given each layer's pins (the setup layer's inputs are
    those the local plan hashed)."""
    inputs = layers[-1].recipe.get("inputs") if layers and layers[-1].kind == "setup" else None
    return chain(portable_plan(spec, inputs)[: len(pins)], pins, host_arch())


class TeamCache:
    """The team cache of one build (off when no registry is set), and where each layer came
    from, for the build's summary."""

    def __init__(
        self, spec: Spec, st: Store, tier: host.Tier, display: Display, log: Path,
        layers: Sequence[LayerRecipe],
    ) -> None:  # fmt: skip
        self.spec, self.st, self.tier, self.display, self.log = spec, st, tier, display, log
        self.layers = layers
        self.registry = registry_of(spec)
        self.unreachable: str | None = None
        self.sources: list[tuple[str, str]] = []

    def came(self, label: str, source: str) -> None:
        self.sources.append((label.partition("]")[0] + "]", source))

    def summary(self) -> None:
        if self.sources:
            self.display.info("layers: " + ", ".join(f"{n} {s}" for n, s in self.sources))

    def why_not(self) -> str:
        """For an error that the cache could have spared: why it did not."""
        if self.registry is None:
            return ""
        return f"; the team cache {self.registry} was unreachable too" if self.unreachable else ""

    def fetch(self, layer: LayerRecipe, pins: Pins | None, below: list[store.LayerMeta],
              label: str) -> store.LayerMeta | None:  # fmt: skip
        """The layer from the team cache, stored under its local key (the caller holds that
        key's layer lock); None: not in the cache (or refused, or the cache is down): build."""
        if self.registry is None or self.unreachable or layer.kind == "oci":
            return None
        if layer.lockable and pins is None:
            return None  # what it will resolve to is not known before it is built
        chained = [*(m.pins for m in below), pins]
        portable = portable_keys(self.spec, self.layers, chained)[-1]
        ref = f"{self.registry}:{portable}"
        start = time.monotonic()

        def say(msg: str) -> None:
            self.display.status(f"{label}  {msg}")

        say("looking in the team cache")
        try:
            raw = skopeo.inspect_raw(ref, self.log)
            if mf.kind(raw) != "manifest":
                raise Refused("it is an index, not a one-layer image")
            m = mf.parse_manifest(raw)
            if len(m.layers) != 1:
                raise Refused(f"it has {len(m.layers)} layers, not one")
            pinned = {"manifest": mf.digest_of(raw), "index": "", "platform": ""}
            image = pull.pull(self.st, ref, pinned, self.log, say)
        except Refused as e:
            self._refused(label, str(e))
            return None
        except DevboxError as e:
            if NOT_THERE in e.message:
                return None
            self.unreachable = e.message.splitlines()[0]
            self.display.info(f"devbox: warning: the team cache {self.registry} cannot be used; "
                              f"building instead ({printable(self.unreachable)})")  # fmt: skip
            return None
        try:
            meta = self._take(layer, pins, below, portable, image, ref, label)
        except Refused as e:
            pull.forget(self.st, image)
            self._refused(label, str(e))
            return None
        secs = time.monotonic() - start
        mib = image.layers[0].size / 2**20
        self.display.info(f"{label}: from the team cache ({mib:.1f} MiB in {secs:.1f}s)")
        return meta

    def _refused(self, label: str, why: str) -> None:
        self.display.info(f"{label}: the team cache's entry is refused ({printable(why)}); "
                          "building it")  # fmt: skip

    def _take(
        self, layer: LayerRecipe, pins: Pins | None, below: list[store.LayerMeta], portable: str,
        image: pull.Image, ref: str, label: str,
    ) -> store.LayerMeta:  # fmt: skip
        try:
            labels = records.parse_labels(records.read_config(self.st, image.config_digest),
                                          ref, 1)  # fmt: skip
        except DevboxError as e:
            raise Refused(e.message) from None
        rec = labels.records[0]
        if rec.kind != layer.kind:
            raise Refused(f"it is a {rec.kind} layer, not {layer.kind}")
        if rec.portable != portable:
            raise Refused("its record names another portable key")
        if rec.pins != pins:
            raise Refused("its pins are not devbox.lock's" if pins else "it names pins")
        if labels.arch != host_arch():
            raise Refused(f"it is for {labels.arch}, not {host_arch()}")
        parent = below[-1].digest if below else None
        key = layer_key(layer.digest, parent, pins)
        lb = store.LayerBuild(self.st, key, host.remover(self.tier))
        try:
            unpack(self.st, self.tier, lb, image, self.log, f"the team cache's {layer.title}")
            lowers = store.expand(self.st, [m.digest for m in below])[::-1]
            roots = [lb.rootfs, *(self.st.layer_rootfs(d) for d in lowers)]
            packages, arch, image_info = describe(roots, layer, pins, below)
            meta = store.LayerMeta(
                digest=key, kind=layer.kind, parent=parent, recipe=layer.recipe,
                title=layer.title, size=fs.disk_usage(lb.rootfs), created=time.time(),
                tier=self.tier.level, packages=packages, arch=arch, pins=pins,
                request=layer.digest, image=image_info,
            )  # fmt: skip
            if not lb.commit(meta):
                lb.abort()
        except BaseException:
            lb.abort()
            raise
        return store.read_meta(self.st, key)
