"""The [setup] layer: the user's build steps, run as root with the working tree mounted."""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from .. import sandbox
from ..plan import LayerRecipe
from .context import BuildContext


def build(ctx: BuildContext, layer: LayerRecipe) -> None:
    workdir = layer.recipe["workdir"]
    script = sandbox.setup_script(layer.recipe["run"], workdir)
    bind = sandbox.Bind(str(ctx.project), workdir)
    try:
        ctx.run_over_lowers(script, binds=(bind,), cwd=workdir)
    finally:
        _remove_mountpoints(ctx, workdir)


def _remove_mountpoints(ctx: BuildContext, workdir: str) -> None:
    """bwrap made the working tree's mount point in this layer; it does not belong there."""
    p = PurePosixPath(workdir)
    for prefix in [p, *p.parents]:
        if str(prefix) == "/":
            break
        rel = str(prefix).lstrip("/")
        in_lower = any((ctx.store.layer_rootfs(d) / rel).exists() for d in ctx.lowers)
        here = ctx.build.rootfs / rel
        if in_lower or not here.is_dir():
            break
        try:
            os.rmdir(here)
        except OSError:
            break
