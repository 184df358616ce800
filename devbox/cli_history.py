"""The history and rollback verbs (typer), registered in cli.py."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from devbox.errors import terminal

KEEP_HELP = "Keep the layers of each project's newest N builds (1: the current only)."
JSON_HELP = "Print one JSON object (keys: docs/spec.md) instead of the report."


def _flags(ctx: typer.Context) -> tuple[bool, bool]:
    """(quiet, verbose) as the global options set them."""
    params = ctx.find_root().params
    return bool(params.get("quiet")), bool(params.get("verbose"))


def history(
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """This project's builds, newest first: which one is current, what each changed."""
    from devbox.activation.entry import spec_path_here
    from devbox.commands.generations import history_json, history_lines
    from devbox.store.paths import Store

    project = spec_path_here().parent
    if as_json:
        typer.echo(terminal(json.dumps(history_json(Store.default(), project), indent=2)))
        return
    for line in history_lines(Store.default(), project):
        typer.echo(terminal(line))


def rollback(
    ctx: typer.Context,
    n: Annotated[
        int | None,
        typer.Argument(
            metavar="N", min=1, help="The generation (default: the one before the current)."
        ),
    ] = None,
) -> None:
    """Put back a generation's devbox.toml and devbox.lock and use its layers."""
    from devbox.build.progress import Display
    from devbox.commands.rollback import rollback as go_back

    quiet, verbose = _flags(ctx)
    for line in go_back(n, Display(quiet=quiet, verbose=verbose)):
        typer.echo(terminal(line))


def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go.")] = False,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="Only what was last used longer ago than this: 30d, 12h, 90m, 1d12h.",
        ),
    ] = "",
    keep: Annotated[int, typer.Option("--keep", metavar="N", min=1, help=KEEP_HELP)] = 3,
) -> None:
    """Delete layers, image blobs and state that no live project uses; print what was freed."""
    from devbox.commands.gc import collect, parse_duration
    from devbox.sandbox.host import current_tier
    from devbox.store.paths import Store

    try:
        age = parse_duration(older_than) if older_than else None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="'--older-than'") from None
    st = Store.default()
    freed = collect(st, current_tier(), dry_run=dry_run, older_than=age, generations_kept=keep)
    verb = "would free" if dry_run else "freed"
    for what, size in freed.items:
        typer.echo(terminal(f"  {size / 2**20:8.1f} MiB  {what}"))
    if freed.kept:
        typer.echo(terminal(f"kept {len(freed.kept)} unused item(s) used within {older_than}:"))
        for what in freed.kept:
            typer.echo(terminal(f"  {what}"))
    counts = ": " + ", ".join(freed.counts()) if freed.counts() else ""
    typer.echo(terminal(f"{verb} {freed.total / 2**20:.1f} MiB in {st.root}{counts}"))
