"""node, provider "apt": the suite's own nodejs and npm."""

from __future__ import annotations

from typing import Any

from devbox.build.builders.context import BuildContext
from devbox.errors import DevboxError
from devbox.plan.interpreters import matches, upstream_version
from devbox.plan.recipe import LayerRecipe
from devbox.sandbox.boxenv import NPM_PREFIX


def build(ctx: BuildContext, layer: LayerRecipe) -> dict[str, Any]:
    ctx.refuse_apt("devbox.toml interpreters.node (provider apt)")
    script = ctx.apt_install_script(layer.recipe["packages"])
    ctx.run_over_lowers(f"{script}\nmkdir -p {NPM_PREFIX} && chmod 1777 {NPM_PREFIX}", apt=True)
    installed = ctx.installed_packages().get("nodejs")
    if installed is None:
        raise DevboxError("nodejs did not install", log=str(ctx.log))
    exact = upstream_version(installed)
    if not matches(layer.recipe["version"], exact):
        raise DevboxError(
            f"node {layer.recipe['version']} was asked for; Debian {layer.recipe['suite']} has "
            f"{exact}",
            hint='use provider = "npm" for any Node.js version',
        )
    return {"version": exact}
