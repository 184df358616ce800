"""One builder per layer kind, in a plain registry (as pre-commit's all_languages)."""

from __future__ import annotations

from typing import Protocol

from ..plan import LayerRecipe
from .context import BuildContext


class Builder(Protocol):
    def __call__(self, ctx: BuildContext, layer: LayerRecipe) -> None:
        """Build `layer` into ctx.build.rootfs, writing ctx.build.tmp/out/packages.tsv."""


def registry() -> dict[str, Builder]:
    from . import apt, debian, setup

    return {"debian": debian.build, "apt": apt.build, "setup": setup.build}
