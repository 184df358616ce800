"""The export, push and pull verbs (typer), registered in cli.py."""

from __future__ import annotations

from typing import Annotated

import typer


def pull(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The image, REGISTRY/REPO:TAG or @sha256:DIGEST.")],
) -> None:
    """Import a box pushed with `devbox push` into the store: `devbox run` then builds nothing."""
    from devbox.activation.entry import current_spec
    from devbox.build.progress import Display
    from devbox.build.stack import register
    from devbox.sandbox.host import current_tier
    from devbox.store import layers, private
    from devbox.store.paths import Store
    from devbox.teamcache.importing import pull_box

    spec = current_spec()
    st, tier = Store.default(), current_tier()
    top = ctx.find_root().params  # the global --quiet and --verbose
    display = Display(quiet=bool(top.get("quiet")), verbose=bool(top.get("verbose")))
    private.mkdirs(st.root)
    with layers.gc_lock(st, exclusive=False):
        stack = pull_box(spec, st, tier, ref, display)
        register(spec, st, stack, tier)
        layers.mark_used(st, stack)
    display.info(f"{spec.name}: ready from {ref} ({len(stack)} layers); `devbox run` enters it")
