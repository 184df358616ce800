"""Build (or reuse) every layer of a box, bottom up, and record what was resolved."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import time
from pathlib import Path

from . import host, lockfile, store
from .builders import registry
from .builders.context import BuildContext
from .errors import DevboxError
from .paths import Store
from .plan import LayerRecipe, plan, workdir_of
from .progress import Display
from .spec import Spec


def build_box(
    spec: Spec, st: Store, display: Display, *, no_cache: bool = False
) -> list[store.LayerMeta]:
    """Make sure every layer of `spec` is in the store; write devbox.lock. Returns the metas."""
    tier = host.current_tier()
    layers = plan(spec, idmap=tier.key)
    st.root.mkdir(parents=True, exist_ok=True)
    with store.gc_lock(st, exclusive=False):
        store.clean_stale(st, host.remover(tier))
        before = store.read_project(st, spec.project)
        if before and before.get("idmap") not in (None, tier.key):
            display.info(
                f"devbox: your sandbox changed since this box was built ({tier.describe()}); "
                "building its layers again under the new uid map (`devbox gc` frees the old ones)"
            )
        log = st.logs / f"{time.strftime('%Y%m%d-%H%M%S')}-{spec.name}.log"
        metas: list[store.LayerMeta] = []
        n = len(layers)
        for i, layer in enumerate(layers, 1):
            label = f"[{i}/{n}] {layer.title}"
            if store.has_layer(st, layer.digest) and not no_cache:
                metas.append(store.read_meta(st, layer.digest))
                display.info(f"{label}: cached")
                continue
            metas.append(_build_layer(spec, st, display, layer, metas, label, log, tier, no_cache))
            display.status("")
        register(spec, st, [m.digest for m in metas], tier)
        store.mark_used(st, [m.digest for m in metas])
    lockfile.write(spec, metas)
    return metas


def register(spec: Spec, st: Store, stack: list[str], tier: host.Tier) -> None:
    store.register_project(
        st, spec.project, spec.name, stack, idmap=tier.key, apt_cache=_apt_cache_key(spec)
    )


def ensure_built(spec: Spec, st: Store, display: Display, tier: host.Tier) -> tuple[str, ...]:
    """The box's layer stack, building what is missing first (as `run` and `shell` need)."""
    layers = plan(spec, idmap=tier.key)
    if not all(store.has_layer(st, layer.digest) for layer in layers):
        display.info(f"devbox: building {spec.name} first")
        return tuple(m.digest for m in build_box(spec, st, display))
    stack = [layer.digest for layer in layers]
    store.mark_used(st, stack)
    registered = store.read_project(st, spec.project)
    if registered is None or registered.get("stack") != stack:
        register(spec, st, stack, tier)
    if not lockfile.lock_path(spec).exists():
        lockfile.write(spec, [store.read_meta(st, d) for d in stack])
    return tuple(stack)


def _build_layer(
    spec: Spec,
    st: Store,
    display: Display,
    layer: LayerRecipe,
    below: list[store.LayerMeta],
    label: str,
    log: Path,
    tier: host.Tier,
    no_cache: bool,
) -> store.LayerMeta:
    lock = st.layer_lock(layer.digest)
    with store.flocked(lock, blocking=False) as free:
        if not free:
            display.info(f"{label}: waiting for another build of this layer")
    with store.flocked(lock):
        if store.has_layer(st, layer.digest) and not no_cache:
            display.info(f"{label}: built by another devbox")
            return store.read_meta(st, layer.digest)
        start = time.monotonic()
        display.status(f"{label}  starting")
        lb = store.LayerBuild(st, layer.digest, host.remover(tier))
        try:
            ctx = BuildContext(
                store=st,
                build=lb,
                lowers=[m.digest for m in reversed(below)],
                display=display,
                log=log,
                label=label,
                apt_cache_key=_apt_cache_key(spec),
                project=spec.project,
                workdir=workdir_of(spec),
                tier=tier,
            )
            try:
                registry()[layer.kind](ctx, layer)
            except DevboxError as e:
                raise host.userns_failure(e.message) or e from None
            packages, arch = _read_packages(lb.tmp / "out" / "packages.tsv", log)
            meta = store.LayerMeta(
                digest=layer.digest,
                kind=layer.kind,
                parent=layer.parent,
                recipe=layer.recipe,
                title=layer.title,
                size=store.disk_usage(lb.rootfs),
                created=time.time(),
                tier=tier.level,
                packages=packages,
                arch=arch,
            )
            if no_cache and store.has_layer(st, layer.digest):
                _replace(st, lb, meta, host.remover(tier))
            else:
                lb.commit(meta)
        except BaseException:
            lb.abort()
            raise
        secs = time.monotonic() - start
        display.info(f"{label}: built in {secs:.1f}s ({meta.size / 2**20:.0f} MiB)")
        return meta


def _replace(st: Store, lb: store.LayerBuild, meta: store.LayerMeta, remove: store.Remover) -> None:
    old = st.layer_dir(meta.digest)
    trash = old.with_name(f"{store.TMP_PREFIX}{meta.digest}-replaced")
    remove(trash)
    os.rename(old, trash)
    lb.commit(meta)
    remove(trash)


def _apt_cache_key(spec: Spec) -> str:
    mirror = spec.base.mirror or ""
    return f"{spec.base.ref}-{hashlib.sha256(mirror.encode()).hexdigest()[:8]}"


def _read_packages(path: Path, log: Path) -> tuple[dict[str, str], str]:
    try:
        text = path.read_text()
    except OSError as e:
        raise DevboxError("the build finished but did not report its packages", log=str(log)) from e
    packages: dict[str, str] = {}
    arches: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            name, version, arch = line.split("\t")
            if not version:  # known to dpkg but not installed
                continue
            packages[name] = version
            if arch != "all":
                arches[arch] += 1
    arch = arches.most_common(1)[0][0] if arches else "unknown"
    return dict(sorted(packages.items())), arch
