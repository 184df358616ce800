"""Build (or reuse) every layer of a box, bottom up, and record what was resolved."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devbox.build import ahead, outputs, writable
from devbox.build.builders import registry
from devbox.build.builders.context import BuildContext
from devbox.build.progress import Display, uninterrupted
from devbox.errors import DevboxError
from devbox.plan import lockcheck, lockfile, resolve
from devbox.plan.recipe import LayerRecipe, Pins, from_archive, layer_key, plan, workdir_of
from devbox.sandbox import host
from devbox.spec.model import Spec
from devbox.store import fs, private, projects
from devbox.store import layers as store
from devbox.store.paths import Store

if TYPE_CHECKING:
    from devbox.teamcache.lookup import TeamCache


def build_box(
    spec: Spec,
    st: Store,
    display: Display,
    *,
    no_cache: bool = False,
    locked: bool = False,
    update: bool = False,
) -> list[store.LayerMeta]:
    """Make sure every layer of `spec` is in the store; write devbox.lock. Returns the metas.

    With devbox.lock, each layer whose request the lock records is built to its pins (a
    version the archive lost is resolved afresh, and the lock updated). `locked`: the lock
    must cover the spec and every pin must be met, or nothing changes. `update`: resolve
    every layer afresh, ignoring the lock. Layers the store lacks come from the team cache
    when it has them (`teamcache`), else are built."""
    from devbox.teamcache.lookup import TeamCache  # builds only: entering never loads it

    tier = host.current_tier()
    layers = plan(spec, idmap=tier.key)
    doc = None if update else lockfile.read(lockfile.lock_path(spec))
    lockcheck.before_build(doc, layers, locked=locked)
    chain = lockfile.pins_chain(doc, layers)
    private.mkdirs(st.root)
    with store.gc_lock(st, exclusive=False):
        store.clean_stale(st, host.remover(tier))
        before = projects.read_project(st, spec.project)
        if before and before.get("idmap") not in (None, tier.key):
            display.info(
                f"devbox: your sandbox changed since this box was built ({tier.describe()}); "
                "building its layers again under the new uid map (`devbox gc` frees the old ones)"
            )
        log = st.logs / f"{time.strftime('%Y%m%d-%H%M%S')}-{spec.name}.log"
        metas: list[store.LayerMeta] = []
        cache = TeamCache(spec, st, tier, display, log, layers)
        n = len(layers)
        drifted = False
        for i, (layer, pins) in enumerate(zip(layers, chain), 1):
            label = f"[{i}/{n}] {layer.title}"
            parent = metas[-1].digest if metas else None
            fresh = no_cache or (update and layer.lockable)
            found = None if fresh else resolve.find(st, layer, parent, pins)
            if found is None and drifted and layer.lockable:
                pins = None  # a layer below moved off the lock: resolve the rest afresh
                found = None if fresh else resolve.find(st, layer, parent, None)
            if found is not None:
                metas.append(store.read_meta(st, found))
                display.info(f"{label}: cached")
                cache.came(label, "store")
                continue
            job = Job(spec, st, display, layer, metas, label, log, tier, no_cache, fresh, locked)
            job.cache, job.ahead = cache, ahead.wanted(layers, chain) if i == 1 else ()
            meta = job.build(pins)
            drifted |= layer.lockable and meta.pins != pins
            metas.append(meta)
            display.status("")
        cache.summary()
        if locked and doc is not None:
            lockcheck.after_locked_build(doc, spec, metas)
        register(spec, st, [m.digest for m in metas], tier)
        store.mark_used(st, [m.digest for m in metas])
    if not locked:
        lockfile.write(spec, metas)
    from devbox.history.records import record_build  # here: entering a box never needs it

    record_build(st, spec, metas, tier.key, locked=locked)
    return metas


def register(spec: Spec, st: Store, stack: list[str], tier: host.Tier) -> None:
    projects.register_project(
        st, spec.project, spec.name, stack, idmap=tier.key, apt_cache=_apt_cache_key(spec)
    )


def ensure_built(spec: Spec, st: Store, display: Display, tier: host.Tier) -> tuple[str, ...]:
    """The box's layer stack, building what is missing first (as `run` and `shell` need)."""
    stack = resolve.stack(spec, st, tier.key)
    if stack is None:
        writable.warn(spec, st, tier.key, display)
        display.info(f"devbox: building {spec.name} first")
        return tuple(m.digest for m in build_box(spec, st, display))
    store.mark_used(st, stack)
    registered = projects.read_project(st, spec.project)
    if registered is None or registered.get("stack") != stack:
        register(spec, st, stack, tier)
    if not lockfile.lock_path(spec).exists():
        lockfile.write(spec, [store.read_meta(st, d) for d in stack])
    return tuple(stack)


@dataclass
class Job:
    """Building one layer over the layers below it."""

    spec: Spec
    st: Store
    display: Display
    layer: LayerRecipe
    below: list[store.LayerMeta]
    label: str
    log: Path
    tier: host.Tier
    no_cache: bool  # rebuild even what exists, replacing it
    fresh: bool  # resolve afresh: don't reuse what an unlocked build of this left
    locked: bool
    cache: TeamCache | None = None
    ahead: tuple[str, ...] = ()  # a base: what the apt steps above it install (fetched ahead)

    @property
    def parent(self) -> str | None:
        return self.below[-1].digest if self.below else None

    def build(self, pins: Pins | None) -> store.LayerMeta:
        layer, st, display, label = self.layer, self.st, self.display, self.label
        key = layer_key(layer.digest, self.parent, pins)
        lock = st.layer_lock(key)
        with fs.flocked(lock, blocking=False) as free:
            if not free:
                display.info(f"{label}: waiting for another build of this layer")
        with fs.flocked(lock):
            found = None if self.fresh else resolve.find(st, layer, self.parent, pins)
            if found is not None:
                display.info(f"{label}: built by another devbox")
                return store.read_meta(st, found)
            cache = self.cache
            got = cache.fetch(layer, pins, self.below, label) if cache and not self.fresh else None
            if cache is not None:
                cache.came(label, "team cache" if got else "built")
            if got is not None:
                return got
            start = time.monotonic()
            display.status(f"{label}  starting")
            lb = store.LayerBuild(st, key, host.remover(self.tier))
            try:
                try:
                    meta = self._run(lb, pins)
                except outputs.Unavailable as e:
                    if self.locked:
                        raise DevboxError(
                            f"`--locked`: devbox.lock [{layer.lock_section}] pins versions the "
                            f"archive does not have: {', '.join(e.items)}"
                            + (self.cache.why_not() if self.cache else ""),
                            hint="`devbox lock --update` resolves afresh (and changes the lock); "
                            "a snapshot mirror ([box].mirror) keeps old versions",
                            log=str(self.log),
                        ) from None
                    lb.abort()
                    before = None if self.fresh else resolve.resolved_before(st, layer, self.parent)
                    what = "reusing what it resolved to before" if before else "resolving afresh"
                    display.info(
                        f"{label}: devbox.lock pins {', '.join(e.items)}, which the archive no "
                        f"longer has; {what} (devbox.lock will change)"
                    )
                    if before is not None:  # not built again: its request did not change
                        return store.read_meta(st, before)
                    lb = store.LayerBuild(st, key, host.remover(self.tier))
                    meta = self._run(lb, None)
                self._commit(lb, meta, key, pins)
            except BaseException as e:
                if isinstance(e, KeyboardInterrupt):
                    display.stopping(label)
                with uninterrupted(display):
                    lb.abort()
                raise
            secs = time.monotonic() - start
            size = store.size_of(st, meta) / 2**20
            display.info(f"{label}: built in {secs:.1f}s ({size:.0f} MiB)")
            return meta

    def _run(self, lb: store.LayerBuild, pins: Pins | None) -> store.LayerMeta:
        layer = self.layer
        ctx = BuildContext(
            store=self.st,
            build=lb,
            lowers=store.expand(self.st, [m.digest for m in self.below])[::-1],
            display=self.display,
            log=self.log,
            label=self.label,
            apt_cache_key=_apt_cache_key(self.spec),
            project=self.spec.project,
            workdir=workdir_of(self.spec),
            tier=self.tier,
            pins=pins,
            fresh=self.fresh,
            lowers_from_archive=all(from_archive(m.kind, m.recipe) for m in self.below),
            suite=self.spec.base.ref if self.spec.base.kind == "debian" else None,
            base_image=self.below[0].image if self.below else None,
            ahead=self.ahead,
        )
        try:
            extra = registry()[layer.kind](ctx, layer)
        except DevboxError as e:
            missing = outputs.unavailable(ctx.out)
            if pins is not None and missing:
                raise outputs.Unavailable(missing) from None
            raise host.userns_failure(e.message) or e from None
        packages, arch = outputs.read_packages(lb.tmp / "out" / "packages.tsv", self.log)
        if arch == "unknown" and self.below:
            arch = self.below[0].arch
        elif arch == "unknown" and ctx.image is not None:
            arch = str(ctx.image.get("arch") or "unknown")
        got: Pins | None = None
        if layer.lockable:
            previous = self.below[-1].packages if self.below else {}
            delta = {k: v for k, v in packages.items() if previous.get(k) != v}
            got = {**extra, "packages": delta}
        if pins is not None and got != pins:
            changes = lockfile.diff_pins(pins, got or {})
            if self.locked:
                raise DevboxError(
                    f"`--locked`: devbox.lock [{layer.lock_section}] does not say what the "
                    "build got: "
                    + "; ".join(changes[:8])
                    + (f" (and {len(changes) - 8} more)" if len(changes) > 8 else ""),
                    hint="`devbox lock --update` accepts what the archive has now; a snapshot "
                    "mirror ([box].mirror) keeps old versions",
                    log=str(self.log),
                )
            self.display.info(
                f"{self.label}: resolved differently from devbox.lock ({changes[0]}"
                + (f", and {len(changes) - 1} more" if len(changes) > 1 else "")
                + "); devbox.lock will change"
            )
        return store.LayerMeta(
            digest=layer_key(layer.digest, self.parent, got),
            kind=layer.kind,
            parent=self.parent,
            recipe=layer.recipe,
            title=layer.title,
            size=fs.disk_usage(lb.rootfs),
            created=time.time(),
            tier=self.tier.level,
            packages=packages,
            arch=arch,
            pins=got,
            request=layer.digest,
            lowers=ctx.image_lowers,
            image=ctx.image,
        )

    def _commit(
        self, lb: store.LayerBuild, meta: store.LayerMeta, key: str, pins: Pins | None
    ) -> None:
        st = self.st
        if store.has_layer(st, meta.digest):
            if self.no_cache:
                _replace(st, lb, meta, host.remover(self.tier))
            else:
                lb.abort()  # the same layer exists already (resolved identically before)
        elif not lb.commit(meta):
            lb.abort()
        if pins is None and self.layer.lockable and key != meta.digest:
            store.write_alias(st, key, meta.digest)


def _replace(st: Store, lb: store.LayerBuild, meta: store.LayerMeta, remove: fs.Remover) -> None:
    old = st.layer_dir(meta.digest)
    trash = old.with_name(f"{store.TMP_PREFIX}{meta.digest}-replaced")
    remove(trash)
    os.rename(old, trash)
    lb.commit(meta)
    remove(trash)


def _apt_cache_key(spec: Spec) -> str:
    """The suite's shared apt cache, per mirror: 64 bits of the mirror's hash, so that no spec
    can find a mirror URL whose cache is another mirror's (32 bits take minutes to match)."""
    if spec.base.kind != "debian":  # an image: its own caches (apt over it gets private ones)
        return f"{spec.base.kind}-{hashlib.sha256(spec.base.ref.encode()).hexdigest()[:16]}"
    mirror = spec.base.mirror or ""
    return f"{spec.base.ref}-{hashlib.sha256(mirror.encode()).hexdigest()[:16]}"
