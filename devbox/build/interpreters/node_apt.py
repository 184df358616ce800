"""node, provider "apt": the suite's own nodejs and npm."""

from __future__ import annotations

from typing import Any

from devbox.sandbox.boxenv import NPM_PREFIX
from devbox.build.builders.context import BuildContext
from devbox.errors import DevboxError
from devbox.plan.recipe import LayerRecipe
from devbox.spec.model import Interpreter, Spec
from devbox.build.interpreters import matches, upstream_version

SUITE_NODE = {"bullseye": "12", "bookworm": "18", "trixie": "20"}  # sid: whatever it has now


def recipe(spec: Spec, interp: Interpreter) -> tuple[dict[str, Any], str]:
    suite = spec.base.ref
    major = interp.version.split(".")[0]
    have = SUITE_NODE.get(suite)
    if have is not None and have != major:
        where = [s for s, v in SUITE_NODE.items() if v == major]
        raise DevboxError(
            f"{spec.path}: [interpreters].node: Debian {suite} has node {have}, not "
            f"{interp.version}"
            + (f"; node {major} is in Debian {', '.join(where)}" if where else ""),
            hint=f'use node = {{ version = "{interp.version}", provider = "npm" }} (the official '
            "Node.js builds: any version)",
        )
    return {"packages": ["nodejs", "npm"], "suite": suite}, f"node {interp.version} (apt)"


def build(ctx: BuildContext, layer: LayerRecipe) -> dict[str, Any]:
    script = ctx.apt_install_script(layer.recipe["packages"])
    ctx.run_over_lowers(f"{script}\nmkdir -p {NPM_PREFIX} && chmod 1777 {NPM_PREFIX}")
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
