"""The services verbs (typer): up, down, services, logs; registered in cli.py."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from devbox.errors import terminal

NAMES_HELP = "Services of this project's [services] (default: all of them)."


def _flags(ctx: typer.Context) -> tuple[bool, bool]:
    """(quiet, verbose) as the global options set them."""
    params = ctx.find_root().params
    return bool(params.get("quiet")), bool(params.get("verbose"))


def up(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(metavar="[NAME]...", help=NAMES_HELP)] = None,
) -> None:
    """Start services (and what they depend on) in order, each once the one before is ready."""
    from devbox.activation.entry import spec_here
    from devbox.build.progress import Display
    from devbox.services.control import up as start

    quiet, verbose = _flags(ctx)
    for line in start(spec_here()[0], names or [], Display(quiet=quiet, verbose=verbose)):
        typer.echo(terminal(line))


def down(
    names: Annotated[list[str] | None, typer.Argument(metavar="[NAME]...", help=NAMES_HELP)] = None,
    volumes: Annotated[
        bool, typer.Option("--volumes", help="Also delete their data (.devbox/data/NAME).")
    ] = False,
) -> None:
    """Stop services (and what depends on them): their stop signal, then SIGKILL."""
    from devbox.activation.entry import spec_here
    from devbox.services.control import down as stop

    for line in stop(spec_here()[0], names or [], volumes=volumes):
        typer.echo(terminal(line))


def services(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object (keys: docs/spec.md).")
    ] = False,
) -> None:
    """Each service: state, pid, uptime, restarts, ready or not, where it listens."""
    from devbox.activation.entry import spec_here
    from devbox.services.report import report, report_json

    spec = spec_here()[0]
    if as_json:
        typer.echo(terminal(json.dumps(report_json(spec), indent=2)))
        return
    for line in report(spec):
        typer.echo(terminal(line))


def logs(
    name: Annotated[str | None, typer.Argument(metavar="[NAME]", help="One service.")] = None,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new lines.")
    ] = False,
    lines: Annotated[int, typer.Option("-n", "--lines", min=0, help="Lines to show.")] = 50,
) -> None:
    """A service's log (or every service's, each line marked with its name)."""
    from devbox.activation.entry import spec_here
    from devbox.services.logs import show

    show(spec_here()[0], name, follow=follow, lines=lines)
