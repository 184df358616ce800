"""Image bases: `oci:REF` (pulled with skopeo, each layer a store layer of its own) and
`rootfs:PATH` (a tarball in the project, unpacked into the base layer).

Both go through devbox.oci.unpack in the tier's user namespace; what the image is (its OS, its
dpkg database, whether it has apt) is read from the unpacked layers without following a link
(devbox.oci.probe). The image's config (Env, WorkingDir) is kept in the base layer's meta, for
the box's defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from devbox import nofollow
from devbox.build.builders.context import BuildContext
from devbox.errors import DevboxError
from devbox.oci import layers, probe, pull
from devbox.oci import manifest as mf
from devbox.plan.recipe import LayerRecipe
from devbox.store import layers as store

TARBALL_MEDIA = {".tar": "tar", ".tar.gz": "tar+gzip", ".tgz": "tar+gzip", ".tar.zst": "tar+zstd"}


def _say(ctx: BuildContext) -> Any:
    return lambda msg: ctx.display.status(f"{ctx.label}  {msg}")


def _describe(ctx: BuildContext, roots: list[Path], extra: dict[str, Any]) -> None:
    """packages.tsv from the image's dpkg database, and what the image is, for the meta."""
    pkgs = probe.dpkg_packages(roots)
    text = "".join(f"{n}\t{v}\t{a}\n" for n, v, a in pkgs)
    nofollow.write_replace(ctx.out, "packages.tsv", text.encode(), 0o644)
    release = probe.os_release(roots)
    ctx.image = {"os": probe.os_name(release), "os_id": release.get("ID", ""),
                 "apt": probe.has_apt(roots), **extra}  # fmt: skip


def build_oci(ctx: BuildContext, layer: LayerRecipe) -> dict[str, Any]:
    st, say = ctx.store, _say(ctx)
    image = pull.pull(st, layer.recipe["ref"], ctx.pins, ctx.log, say)
    arch = mf.DEB_ARCH.get(image.config.arch, image.config.arch or "unknown")
    made: list[str] = []
    try:
        keys = layers.ensure_layers(
            st, image.layers, image.config.diff_ids, ctx.tier,
            lambda d: pull.blob_path(st, d), ctx.log, say, arch, made,
        )  # fmt: skip
    except BaseException:
        for key in made:  # a refused image leaves nothing of itself
            ctx.build.remove(st.layer_dir(key))
        pull.forget(st, image)
        raise
    roots = [st.layer_rootfs(k) for k in reversed(keys)]
    env = list(image.config.env)
    _describe(ctx, roots, {"env": env, "workdir": image.config.workdir, "arch": arch,
                           "ref": image.ref, "manifest": image.manifest})  # fmt: skip
    ctx.image_lowers = keys
    return image.pins


def build_rootfs(ctx: BuildContext, layer: LayerRecipe) -> dict[str, Any]:
    rel = layer.recipe["path"]
    media = next((m for s, m in TARBALL_MEDIA.items() if rel.endswith(s)), "tar")
    try:
        # the working tree is the box's to write: the tarball is opened without following a link
        fd = nofollow.open_beneath(ctx.project, rel)
    except FileNotFoundError:
        raise DevboxError(f"[box].base names {rel}, which does not exist in {ctx.project}",
                          hint="put the tarball there, or change base") from None  # fmt: skip
    try:
        argv = layers.unpack_argv(ctx.tier, ctx.build.rootfs, media, fd=fd,
                                  digest="sha256:" + layer.recipe["sha256"])  # fmt: skip
        layers.run_unpacker(argv, ctx.log, f"the rootfs tarball {rel}", pass_fds=(fd,))
    finally:
        os.close(fd)
    _describe(ctx, [ctx.build.rootfs], {"env": [], "workdir": "", "arch": ""})
    return {}


def image_of(metas: list[store.LayerMeta]) -> dict[str, Any] | None:
    """What the box's base image is (None for a Debian suite base)."""
    return metas[0].image if metas and metas[0].kind in ("oci", "rootfs") else None
