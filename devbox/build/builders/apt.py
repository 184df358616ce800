"""The [packages].apt layer: apt-get install over the base, caches kept out of the layer."""

from __future__ import annotations

from typing import Any

from devbox.build.builders.context import BuildContext
from devbox.plan.recipe import LayerRecipe


def build(ctx: BuildContext, layer: LayerRecipe) -> dict[str, Any]:
    ctx.refuse_apt("devbox.toml [packages].apt")
    ctx.run_over_lowers(ctx.apt_install_script(layer.recipe["packages"]), apt=True)
    return {}
