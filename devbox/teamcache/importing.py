"""`devbox pull REF`: a devbox image's layers into the store, so the project's box needs no
build.

The image is pulled into the blob cache (`oci.pull`), its labels read and checked against the
project: the same devbox.lock, a record per planned layer of the same kind, whose pins are the
lock's and whose portable key is the one the project's spec and those pins give. Each layer the
store lacks is unpacked under this machine's uid map into a staged layer; only when every one is
whole are they renamed into place (bottom first), so an interrupted or refused pull leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from devbox.errors import DevboxError, printable
from devbox.oci import layers as image_layers
from devbox.oci import probe, pull
from devbox.plan import lockfile
from devbox.plan.recipe import LayerRecipe, Pins, layer_key, plan
from devbox.sandbox import host
from devbox.spec.model import Spec
from devbox.store import fs
from devbox.store import layers as store
from devbox.store.paths import Store
from devbox.teamcache import records
from devbox.teamcache.lookup import host_arch, portable_keys
from devbox.teamcache.records import Display
from devbox.teamcache.unpacking import Refused, describe, unpack_blob

BOX_KINDS = ("image-layer", "changes")  # records that are no layer of the plan


def pull_box(spec: Spec, st: Store, tier: host.Tier, ref: str, display: Display) -> list[str]:
    """Import the image `ref` for the project `spec`; the box's layer stack (store keys)."""
    log = st.logs / f"{time.strftime('%Y%m%d-%H%M%S')}-{spec.name}-pull.log"
    image = pull.pull(st, ref, None, log, lambda msg: display.status(f"pull  {msg}"))
    try:
        labels = records.parse_labels(records.read_config(st, image.config_digest), ref,
                                      len(image.layers))  # fmt: skip
        layers, pins = _check(spec, tier, ref, labels)
        return _import(spec, st, tier, image, labels, layers, pins, log, display)
    except BaseException:
        pull.forget(st, image)
        raise


def _check(
    spec: Spec, tier: host.Tier, ref: str, labels: records.Labels
) -> tuple[list[LayerRecipe], list[Pins | None]]:
    if labels.arch != host_arch():
        raise DevboxError(f"{ref} is a box for {printable(labels.arch)}, this machine is "
                          f"{host_arch()}")  # fmt: skip
    path = lockfile.lock_path(spec)
    mine = records.file_sha(path)
    if labels.lock != mine:
        raise DevboxError(
            f"{ref} was built from devbox.lock {printable(labels.lock)}, but this project's "
            f"{path} is {mine or 'missing'}",
            hint="check out the devbox.lock the image was pushed with, or build here "
            "(`devbox build`)",
        )
    layers = plan(spec, idmap=tier.key)
    pins = lockfile.pins_chain(lockfile.read(path), layers)
    box = [r for r in labels.records if r.kind not in BOX_KINDS]
    kinds = [r.kind for r in box]
    if kinds != [layer.kind for layer in layers]:
        raise DevboxError(f"{ref} holds the layers {', '.join(kinds)}; this project's box is "
                          f"{', '.join(layer.kind for layer in layers)}",
                          hint="pull the image pushed from this project")  # fmt: skip
    for layer, want, r in zip(layers, pins, box):
        if r.pins != want or (layer.lockable and want is None):
            raise DevboxError(
                f"{ref}: its {printable(r.title)} layer is not what devbox.lock pins",
                hint="pull the image pushed with this devbox.lock",
            )
    for r in box:
        if any(labels.records[i].kind != "image-layer" for i in r.lowers or ()):
            raise DevboxError(f"{ref}: its image base names layers that are not image layers")
    keys = portable_keys(spec, layers, [r.pins for r in box])
    for layer, key, r in zip(layers, keys, box):
        if r.portable != key:
            raise DevboxError(f"{ref}: its {printable(r.title)} layer was built from another "
                              f"request than this project's {layer.title}",
                              hint="a [setup] layer travels only with [shell] workdir set; "
                              "pull the image pushed from this project")  # fmt: skip
    return layers, pins


def _import(
    spec: Spec, st: Store, tier: host.Tier, image: pull.Image, labels: records.Labels,
    layers: list[LayerRecipe], pins: list[Pins | None], log: Path, display: Display,
) -> list[str]:  # fmt: skip
    staged: list[tuple[store.LayerBuild, store.LayerMeta]] = []
    committed: list[str] = []
    keys: dict[int, str] = {}  # record index -> store key
    roots: dict[str, Path] = {}  # store key -> its files (staged or stored)
    stack: list[str] = []
    metas: list[store.LayerMeta] = []
    below: list[Path] = []  # the box's lower dirs so far, bottom first
    n, box_i, arch = len(labels.records), 0, host_arch()
    with contextlib.ExitStack() as locks:
        try:
            for j, (r, blob, diff_id) in enumerate(
                zip(labels.records, image.layers, image.config.diff_ids)
            ):
                label = f"[{j + 1}/{n}] {printable(r.title)}"
                if r.kind == "changes":
                    display.info(f"{label}: the box's changes (its writable layer) are not "
                                 "imported")  # fmt: skip
                    continue
                if r.kind == "image-layer":
                    key = image_layers.layer_key(str(r.image_diff_id), tier.key)
                    layer, want = None, None
                else:
                    layer, want = layers[box_i], pins[box_i]
                    key = layer_key(layer.digest, stack[-1] if stack else None, want)
                keys[j] = key
                if key in roots:  # the same image layer twice
                    continue
                locks.enter_context(fs.flocked(st.layer_lock(key)))
                if store.has_layer(st, key):
                    display.info(f"{label}: in the store already")
                    roots[key] = st.layer_rootfs(key)
                    meta = store.read_meta(st, key)
                else:
                    lb = store.LayerBuild(st, key, host.remover(tier))
                    staged.append((lb, store.LayerMeta(key, "", None, {}, "", 0, 0, 0, {}, "")))
                    display.status(f"{label}  unpacking {blob.size / 2**20:.1f} MiB")
                    unpack_blob(st, tier, lb.rootfs, blob, diff_id, log, f"{ref_of(image)} "
                                f"layer {j + 1}")  # fmt: skip
                    roots[key] = lb.rootfs
                    meta = _meta(st, tier, lb, r, layer, want, key, stack, metas, below, keys,
                                 roots, arch)  # fmt: skip
                    staged[-1] = (lb, meta)
                    display.info(f"{label}: imported ({blob.size / 2**20:.1f} MiB)")
                if layer is not None:
                    below += [roots[keys[i]] for i in (r.lowers or ())]
                    below.append(roots[key])
                    stack.append(key)
                    metas.append(meta)
                    box_i += 1
            for lb, meta in staged:
                if lb.commit(meta):
                    committed.append(meta.digest)
                else:
                    lb.abort()
        except Refused as e:
            _undo(st, tier, staged, committed)
            raise DevboxError(f"{ref_of(image)} is refused: {e}", hint="nothing was stored; "
                              "ask whoever pushed it, or build here") from None  # fmt: skip
        except BaseException:
            _undo(st, tier, staged, committed)
            raise
    return stack


def ref_of(image: pull.Image) -> str:
    return printable(image.ref)


def _undo(st: Store, tier: host.Tier, staged: list[tuple[store.LayerBuild, store.LayerMeta]],
          committed: list[str]) -> None:  # fmt: skip
    remove = host.remover(tier)
    for lb, _ in staged:
        with contextlib.suppress(OSError):
            lb.abort()
    for key in committed:
        with contextlib.suppress(OSError):
            remove(st.layer_dir(key))


def _meta(
    st: Store, tier: host.Tier, lb: store.LayerBuild, r: records.Record,
    layer: LayerRecipe | None, pins: Pins | None, key: str, stack: list[str],
    metas: list[store.LayerMeta], below: list[Path], keys: dict[int, str],
    roots: dict[str, Path], arch: str,
) -> store.LayerMeta:  # fmt: skip
    size, now = fs.disk_usage(lb.rootfs), time.time()
    if layer is None:  # an image base's layer, shared by every image that has it
        diff_id = str(r.image_diff_id)
        return store.LayerMeta(key, image_layers.KIND, None, {"diff_id": diff_id},
                               f"image layer {diff_id[7:19]}", size, now, tier.level, {},
                               arch)  # fmt: skip
    lowers = [keys[i] for i in (r.lowers or ())] if layer.kind == "oci" else None
    own = [roots[k] for k in reversed(lowers or [])]
    packages, got_arch, info = describe([lb.rootfs, *own, *reversed(below)], layer, pins, metas)
    if layer.kind == "oci":
        info = _image_info(r, layer, pins, [lb.rootfs, *own])
    return store.LayerMeta(key, layer.kind, stack[-1] if stack else None, layer.recipe,
                           layer.title, size, now, tier.level, packages, got_arch, pins,
                           layer.digest, lowers, info)  # fmt: skip


def _image_info(
    r: records.Record, layer: LayerRecipe, pins: Pins | None, roots: list[Path]
) -> dict[str, Any]:
    """An image base's description: Env and WorkingDir from the record (typed, checked), the
    reference and manifest the lock pins, the OS read from its files."""
    image = dict(r.image or {})
    if image.get("ref") != layer.recipe["ref"] or image.get("manifest") != (pins or {}).get(
        "manifest"
    ):
        raise Refused("its image base is not the one devbox.lock pins")
    release = probe.os_release(roots)
    image.update(os=probe.os_name(release), os_id=release.get("ID", ""), apt=probe.has_apt(roots))
    return image
