"""The [packages].apt layer: apt-get install over the base, caches kept out of the layer."""

from __future__ import annotations

from .. import sandbox
from ..plan import LayerRecipe
from .context import BuildContext


def build(ctx: BuildContext, layer: LayerRecipe) -> None:
    _, lists = ctx.apt_cache()
    script = sandbox.apt_script(
        layer.recipe["packages"],
        sandbox_root=ctx.tier.level == 3,
        cached_lists=any(lists.glob("*_Packages*")),
    )
    ctx.run_over_lowers(script)
