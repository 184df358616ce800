"""The [packages].apt layer: apt-get install over the base, caches kept out of the layer."""

from __future__ import annotations

from typing import Any

from .. import sandbox
from ..plan import LayerRecipe
from .context import BuildContext


def build(ctx: BuildContext, layer: LayerRecipe) -> dict[str, Any]:
    pins = None if ctx.pins is None else dict(ctx.pins.get("packages", {}))
    script = sandbox.apt_script(
        layer.recipe["packages"],
        sandbox_root=ctx.tier.level == 3,
        pins=pins,
        cached_lists=ctx.cached_lists(),
    )
    ctx.run_over_lowers(script)
    return {}
