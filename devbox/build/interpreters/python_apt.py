"""python, provider "apt": the base suite's own python3.X, with python, pip and venv working as
a developer expects. Debian's externally-managed marker is removed in this layer, and user
installs go to PYTHONUSERBASE in the box (boxenv), never to the host."""

from __future__ import annotations

import shlex
from typing import Any

from devbox.sandbox.boxenv import PYTHON_USER_BASE as USER_BASE
from devbox.build.builders.context import BuildContext
from devbox.errors import DevboxError
from devbox.plan.recipe import LayerRecipe
from devbox.spec.model import Interpreter, Spec
from devbox.build.interpreters import matches, upstream_version

# python3.X per Debian suite; sid carries 3.13 and newer (what it has changes over time).
SUITE_PYTHON = {"bullseye": "3.9", "bookworm": "3.11", "trixie": "3.13"}
SID_MIN = (3, 13)


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def suites_with(minor: str) -> list[str]:
    out = [s for s, v in SUITE_PYTHON.items() if v == minor]
    if tuple(int(x) for x in minor.split(".")) >= SID_MIN:
        out.append("sid")
    return out


def recipe(spec: Spec, interp: Interpreter) -> tuple[dict[str, Any], str]:
    suite = spec.base.ref
    minor = _minor(interp.version)
    ok = SUITE_PYTHON.get(suite) == minor or (
        suite == "sid" and tuple(int(x) for x in minor.split(".")) >= SID_MIN
    )
    if not ok:
        have = SUITE_PYTHON.get(suite, "3.13 and newer" if suite == "sid" else "another version")
        where = suites_with(minor)
        elsewhere = (
            f"python {minor} is in Debian {' and '.join(where)}"
            if where
            else f"no Debian suite devbox knows has python {minor}"
        )
        raise DevboxError(
            f"{spec.path}: [interpreters].python: Debian {suite} has python {have}, "
            f"not {interp.version}; {elsewhere}",
            hint=(
                f'use python = "{have}" on {suite}'
                + (f', or base = "debian:{where[0]}"' if where else "")
                + f', or python = {{ version = "{interp.version}", provider = "uv" }}'
                " (python-build-standalone: any version)"
            ),
        )
    packages = [f"python{minor}", f"python{minor}-venv", "python3-pip"]
    return {"packages": packages, "suite": suite}, f"python {interp.version} (apt)"


def script(layer: LayerRecipe, install: str) -> str:
    """`install` (the apt part, BuildContext.apt_install_script), then make this python the
    developer's python."""
    minor = _minor(layer.recipe["version"])
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
    ctx.run_over_lowers(script(layer, ctx.apt_install_script(layer.recipe["packages"])))
    minor = _minor(layer.recipe["version"])
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
