"""The [setup] layer: the user's build steps, run as root with the working tree mounted
read-only (a build step makes the layer, not files in the tree)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from devbox.build import steps
from devbox.build.builders.context import BuildContext
from devbox.plan.recipe import LayerRecipe
from devbox.sandbox import argv as sandbox


def build(ctx: BuildContext, layer: LayerRecipe) -> dict[str, Any]:
    workdir = layer.recipe["workdir"]
    script = steps.setup_script(layer.recipe["run"], workdir)
    bind = sandbox.Bind(str(ctx.project), workdir, "ro")
    ctx.run_over_lowers(script, binds=(bind,), cwd=workdir, rmdirs=new_mountpoints(ctx, workdir))
    return {}


def new_mountpoints(ctx: BuildContext, workdir: str) -> list[str]:
    """The components of `workdir` that no lower layer has: bwrap makes them in this layer as
    mount points, and they must not stay there. Deepest first."""
    out: list[str] = []
    p = PurePosixPath(workdir)
    for prefix in [p, *p.parents]:
        rel = str(prefix).lstrip("/")
        if not rel or any((ctx.store.layer_rootfs(d) / rel).exists() for d in ctx.lowers):
            break
        out.append(rel)
    return out
