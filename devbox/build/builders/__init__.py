"""One builder per layer kind, in a plain registry (as pre-commit's all_languages)."""

from __future__ import annotations

from typing import Any, Protocol

from devbox.build.builders.context import BuildContext
from devbox.plan.recipe import LayerRecipe


class Builder(Protocol):
    def __call__(self, ctx: BuildContext, layer: LayerRecipe) -> dict[str, Any]:
        """Build `layer` into ctx.build.rootfs, writing ctx.build.tmp/out/packages.tsv.
        Returns what it resolved beyond packages (an interpreter's exact version, URL, hash),
        which devbox.lock records. With ctx.pins set, it must reproduce exactly those."""


def _interpreter(ctx: BuildContext, layer: LayerRecipe) -> dict[str, Any]:
    from devbox.build.interpreters import provider_module

    result: dict[str, Any] = provider_module(layer.recipe, layer.kind).build(ctx, layer)
    return result


def registry() -> dict[str, Builder]:
    from devbox.build.builders import apt, debian, image, setup

    return {
        "debian": debian.build,
        "oci": image.build_oci,
        "rootfs": image.build_rootfs,
        "apt": apt.build,
        "python": _interpreter,
        "node": _interpreter,
        "setup": setup.build,
    }
