"""The export, push and pull verbs (typer), registered in cli.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from devbox.errors import terminal

Format = Annotated[
    str,
    typer.Option(
        "--format", help="oci (a layout directory), oci-archive or docker-archive (a tar file)."
    ),
]
Changes = Annotated[
    bool,
    typer.Option("--with-changes", help="Add the box's writable layer (what sessions changed)."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")]


def _say(ctx: typer.Context, quiet: bool) -> Callable[[str], None]:
    quiet = quiet or bool(ctx.find_root().params.get("quiet"))

    def say(msg: str) -> None:
        if not quiet:
            typer.echo(terminal(msg), err=True)

    return say


def _log(name: str) -> Path:
    from devbox.store.paths import Store

    return Store.default().logs / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.log"


def export(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Where to write the image.", show_default=False)],
    fmt: Format = "oci",
    with_changes: Changes = False,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag",
            help="The image's name in the layout or archive (default: latest).",
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Write this project's built box as an OCI image (a layout dir or an archive)."""
    from devbox.activation.entry import spec_here
    from devbox.publish.export import export as do_export
    from devbox.sandbox.host import current_tier
    from devbox.store.paths import Store

    spec, data = spec_here()
    say = _say(ctx, quiet)
    digest = do_export(spec, data, Store.default(), current_tier(), path, _log(spec.name), say,
                       fmt=fmt, tag=tag, changes=with_changes)  # fmt: skip
    say(f"{spec.name}: exported to {path} ({digest})")


def push(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(help="registry/repository:tag (or @sha256:...).", show_default=False),
    ],
    with_changes: Changes = False,
    quiet: Quiet = False,
) -> None:
    """Push this project's built box to a registry as an OCI image."""
    from devbox.activation.entry import spec_here
    from devbox.publish.export import push as do_push
    from devbox.sandbox.host import current_tier
    from devbox.store.paths import Store

    spec, data = spec_here()
    say = _say(ctx, quiet)
    digest = do_push(spec, data, Store.default(), current_tier(), ref, _log(spec.name), say,
                     changes=with_changes)  # fmt: skip
    say(f"{spec.name}: pushed {ref} ({digest})")


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
