"""[interpreters]: one small module per provider, in a plain registry (as pre-commit's languages).

A provider turns `python = "3.11"` into a layer recipe (pure; impossible asks are refused here,
before anything is built) and builds that layer over the layers below. Each interpreter is a
layer of its own, so changing one rebuilds only it and what is above it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from devbox.errors import DevboxError
from devbox.spec.model import Interpreter, Spec


def providers() -> dict[tuple[str, str], ModuleType]:
    from devbox.build.interpreters import node_apt, node_npm, python_apt, python_uv

    return {
        ("python", "apt"): python_apt,
        ("python", "uv"): python_uv,
        ("node", "npm"): node_npm,
        ("node", "apt"): node_apt,
    }


def default_provider(name: str) -> str:
    """python: the base suite's own (apt); node: the official builds (npm), any version."""
    return {"python": "apt", "node": "npm"}[name]


def interpreter_recipe(spec: Spec, interp: Interpreter) -> tuple[dict[str, Any], str]:
    provider = interp.provider or default_provider(interp.name)
    module = providers().get((interp.name, provider))
    if module is None:  # the spec validator allows only known providers
        raise DevboxError(f"no provider {provider!r} for {interp.name}")
    recipe, title = module.recipe(spec, interp)
    return {"provider": provider, "version": interp.version, **recipe}, title


def provider_module(recipe: dict[str, Any], kind: str) -> ModuleType:
    return providers()[(kind, str(recipe["provider"]))]


def upstream_version(debian_version: str) -> str:
    """'3.11.2-6+deb12u6' -> '3.11.2'; '18.19.0+dfsg-6~deb12u2' -> '18.19.0'."""
    v = debian_version.split(":", 1)[-1].rsplit("-", 1)[0]
    for sep in ("+", "~"):
        v = v.split(sep, 1)[0]
    return v


def matches(requested: str, exact: str) -> bool:
    """Does an exact version satisfy a request of the form X, X.Y or X.Y.Z?"""
    want = requested.split(".")
    return exact.split(".")[: len(want)] == want
