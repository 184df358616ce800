"""debian:<suite> bases, bootstrapped by mmdebstrap (minbase)."""

from __future__ import annotations

from .. import host, sandbox
from ..plan import LayerRecipe
from ..progress import run_logged
from .context import BuildContext, build_env


def build(ctx: BuildContext, layer: LayerRecipe) -> None:
    archives, _ = ctx.apt_cache()
    target = ctx.build.rootfs
    target.rmdir()  # mmdebstrap wants to create it
    argv = sandbox.mmdebstrap_argv(
        host.tool("mmdebstrap"),
        layer.recipe["suite"],
        str(target),
        layer.recipe["mirror"],
        str(archives),
        str(ctx.out),
    )
    # its own mount namespace: whatever mmdebstrap mounts in the target dies with it
    argv = [*sandbox.unshare_argv(host.tool("unshare"), None), *argv]
    run_logged(argv, log=ctx.log, display=ctx.display, label=ctx.label, env=build_env())
