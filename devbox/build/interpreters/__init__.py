"""[interpreters], the build half: one small module per provider, in a plain registry (as
pre-commit's languages). Each installs its layer over the layers below; the recipe half, pure,
is devbox.plan.interpreters. Each interpreter is a layer of its own, so changing one rebuilds
only it and what is above it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any


def providers() -> dict[tuple[str, str], ModuleType]:
    from devbox.build.interpreters import node_apt, node_npm, python_apt, python_uv

    return {
        ("python", "apt"): python_apt,
        ("python", "uv"): python_uv,
        ("node", "npm"): node_npm,
        ("node", "apt"): node_apt,
    }


def provider_module(recipe: dict[str, Any], kind: str) -> ModuleType:
    return providers()[(kind, str(recipe["provider"]))]
