"""The history and rollback verbs (typer), registered in cli.py."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from devbox.errors import terminal

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
