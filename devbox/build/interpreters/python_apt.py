"""python, provider "apt": the base suite's own python3.X, with python, pip and venv working as
a developer expects. Debian's externally-managed marker is removed in this layer, and user
installs go to PYTHONUSERBASE in the box (boxenv), never to the host."""

from __future__ import annotations

import shlex
from typing import Any

from devbox.build.builders.context import BuildContext
from devbox.errors import DevboxError
from devbox.plan.interpreters import matches, minor_of, upstream_version
from devbox.plan.recipe import LayerRecipe
from devbox.sandbox.boxenv import PYTHON_USER_BASE as USER_BASE


def script(layer: LayerRecipe, install: str) -> str:
    """`install` (the apt part, BuildContext.apt_install_script), then make this python the
    developer's python."""
    minor = minor_of(layer.recipe["version"])
    py = f"/usr/bin/python{minor}"
    return "\n".join(
        [
            install,
            # a developer's python: python, python3, pip, pip3 all this interpreter
            f"ln -sf {py} /usr/local/bin/python",
            f"ln -sf {py} /usr/local/bin/python3",
            *(
                f"printf '#!/bin/sh\\nexec {py} -m pip \"$@\"\\n' > /usr/local/bin/{name} && "
                f"chmod 755 /usr/local/bin/{name}"
                for name in ("pip", "pip3", f"pip{minor}")
            ),
            # pip installs into the box, not refused by Debian's PEP 668 marker
            f"rm -f /usr/lib/python{minor}/EXTERNALLY-MANAGED",
            f"mkdir -p {shlex.quote(USER_BASE)} && chmod 1777 {shlex.quote(USER_BASE)}",
        ]
    )


def build(ctx: BuildContext, layer: LayerRecipe) -> dict[str, Any]:
    ctx.refuse_apt("devbox.toml interpreters.python (provider apt)")
    ctx.run_over_lowers(script(layer, ctx.apt_install_script(layer.recipe["packages"])), apt=True)
    minor = minor_of(layer.recipe["version"])
    installed = ctx.installed_packages().get(f"python{minor}")
    if installed is None:
        raise DevboxError(f"python{minor} did not install", log=str(ctx.log))
    exact = upstream_version(installed)
    if not matches(layer.recipe["version"], exact):
        raise DevboxError(
            f"python {layer.recipe['version']} was asked for; Debian {layer.recipe['suite']} "
            f"has {exact}",
            hint=f'ask for "{minor}", or use provider = "uv" for an exact python version',
        )
    return {"version": exact}
