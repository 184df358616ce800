"""The [setup] layer: the user's build steps, run as root with the working tree mounted
read-only (a build step makes the layer, not files in the tree)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from devbox import nofollow
from devbox.build import steps
from devbox.build.builders.context import BuildContext
from devbox.errors import DevboxError
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
        if not rel or any(_in_layer(ctx.store.layer_rootfs(d), rel) for d in ctx.lowers):
            break
        out.append(rel)
    return out


def _in_layer(root: Path, rel: str) -> bool:
    """Does this layer hold something at `rel`? Looked up without following a link: a layer's
    content is untrusted (an image's above all), and a link on the way counts as something."""
    *dirs, name = rel.split("/")
    try:
        fd = nofollow.open_dir(root, "/".join(dirs))
    except FileNotFoundError:
        return False
    except (DevboxError, OSError):  # a symlink or a file on the way
        return True
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False
    finally:
        os.close(fd)
