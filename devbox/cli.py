"""The command line (typer). Thin: parse, call a plain function, print."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from devbox import __version__, cli_devcontainer, cli_history, cli_images, cli_services, cli_shell
from devbox.build.progress import Display
from devbox.cli_shell import OPTS
from devbox.clihelp import Command
from devbox.errors import terminal
from devbox.spec.model import Spec
from devbox.store.paths import Store

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Per-project reproducible Linux userlands: declarative, locked, rootless, fast to enter.",
)


F = TypeVar("F", bound=Callable[..., Any])


def command(**settings: Any) -> Callable[[F], F]:
    """`app.command`, with help that names arguments and options for people (clihelp)."""
    return app.command(cls=Command, **settings)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"devbox {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tools' full output.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    OPTS.verbose, OPTS.quiet = verbose, quiet


def _echo(line: str) -> None:
    """Print a line of a verb's report (status, ls, gc, doctor, watch): it names paths and spec
    values, so it is made printable first."""
    typer.echo(terminal(line))


def _display() -> Display:
    return Display(quiet=OPTS.quiet, verbose=OPTS.verbose)


def _spec() -> Spec:
    from devbox.activation.entry import current_spec

    return current_spec()


def _enter(command: list[str] | None, root: bool) -> None:
    """Build the box if needed, then become `command` (or a shell) in it."""
    from devbox.activation.entry import enter_box

    enter_box(command, root=root, display=_display())


@command()
def init(
    base: Annotated[
        str, typer.Option("--base", metavar="BASE", help="debian:<suite>")
    ] = "debian:bookworm",
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            "-t",
            metavar="NAME",
            help="One of: {templates} (default: what the project holds).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite existing files (devbox.toml...).")
    ] = False,
) -> None:
    """Write a starter devbox.toml here (a template may add an app and its services)."""
    from devbox.commands.init import init as do_init

    done = do_init(Path(os.getcwd()), base=base, template=template, force=force)
    display = _display()
    for note in done.notes:
        display.info(f"found {note}")
    if template is None and not done.notes:
        display.info("found no pyproject.toml, requirements*.txt, package.json or version file")
    if done.services:
        more = f" and {len(done.files) - 1} files beside it" if len(done.files) > 1 else ""
        display.info(f"wrote {done.spec}{more}; `devbox up` builds and starts its services")
    else:
        display.info(f"wrote {done.spec}; `devbox build` builds it, `devbox shell` enters it")


@command()
def build(
    locked: Annotated[
        bool,
        typer.Option(
            "--locked", help="Build exactly what devbox.lock says, or fail and change nothing."
        ),
    ] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Rebuild every layer.")] = False,
    push: Annotated[
        bool, typer.Option("--push-cache", help="Push the layers the team cache lacks.")
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Do not ask before a rebuild resets the box's writable layer."
        ),
    ] = False,
) -> None:
    """Build (or reuse) every layer of this project's box; write devbox.lock."""
    from devbox.commands.building import build_here

    display = _display()
    display.info(build_here(display, locked=locked, no_cache=no_cache, yes=yes, push_cache=push))


@command()
def lock(
    update: Annotated[
        bool, typer.Option("--update", help="Resolve every layer afresh, ignoring the lock.")
    ] = False,
) -> None:
    """Resolve the spec and write devbox.lock, without entering the box."""
    from devbox.commands.building import lock_here

    display = _display()
    display.info(lock_here(display, update=update))


@command(
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def run(
    command: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SCRIPT | -- COMMAND...",
            help="A script's name, or (after --) a command, and its arguments.",
        ),
    ] = None,
    root: Annotated[bool, typer.Option("--root", help="Run as root in the box.")] = False,
) -> None:
    """Run a script or one command in the box; its exit status is devbox's. Alone: list the
    scripts."""
    if not command:
        from devbox.activation.scripts import listing

        _echo(listing(_spec()))
        return
    _enter(command, root)


@command()
def shell(
    root: Annotated[bool, typer.Option("--root", help="Be root in the box.")] = False,
) -> None:
    """An interactive shell in the box; `exit` returns here."""
    _enter(None, root)


JSON_HELP = "Print one JSON object (keys: docs/spec.md) instead of the report."
JsonFlag = Annotated[bool, typer.Option("--json", help=JSON_HELP)]


def _echo_json(data: object) -> None:
    """JSON for scripts: ASCII only (json escapes every control character), indented."""
    import json

    typer.echo(terminal(json.dumps(data, indent=2)))


@command()
def status(as_json: JsonFlag = False) -> None:
    """This project's box: base, layers, lock state."""
    if as_json:
        from devbox.commands.status_json import status_json

        return _echo_json(status_json(_spec(), Store.default()))
    from devbox.commands.status import status_lines

    for line in status_lines(_spec(), Store.default()):
        _echo(line)


@command()
def reset() -> None:
    """Discard the box's writable layer (changes made outside the working tree)."""
    from devbox.commands.reset import reset as do_reset

    spec = _spec()
    for line in do_reset(spec, Store.default()):
        _echo(line)
    _display().info(f"{spec.name}: writable layer reset")


@command()
def doctor(as_json: JsonFlag = False) -> None:
    """Check the host: user namespaces, subuid ranges, bwrap, overlayfs, mmdebstrap, skopeo."""
    from devbox.commands.doctor import report, report_json, run_checks

    checks, tier, works = run_checks()
    if as_json:
        _echo_json(report_json(checks, tier, works))
    else:
        for line in report(checks, tier, works):
            _echo(line)
    if not works:
        raise typer.Exit(1)


@command()
def ls(as_json: JsonFlag = False) -> None:
    """Every box and layer in the store: sizes, which projects use them, last used."""
    from devbox.commands.listing import listing
    from devbox.commands.listing_json import listing_json

    if as_json:
        return _echo_json(listing_json(Store.default()))
    for line in listing(Store.default()):
        _echo(line)


@command()
def watch() -> None:
    """Watch devbox.toml, devbox.lock and [setup].inputs; rebuild when they change."""
    from devbox.activation.entry import spec_path_here
    from devbox.commands.watch import watch as do_watch

    spec_path = spec_path_here()  # not loaded: a broken spec is watched too
    quiet = OPTS.quiet

    def say(msg: str) -> None:
        if not quiet:
            _echo(f"devbox watch: {msg}")

    do_watch(spec_path, Store.default(), _display(), say=say)


command(name="hook")(cli_shell.hook)
command(name="activate")(cli_shell.activate)
command(name="deactivate")(cli_shell.deactivate)
command(name="completion")(cli_shell.completion)
command(name="allow")(cli_shell.allow)
command(name="deny")(cli_shell.deny)
command(name="export")(cli_images.export)
command(name="push")(cli_images.push)
command(name="pull")(cli_images.pull)
command(name="gc")(cli_history.gc)
command(name="history")(cli_history.history)
command(name="rollback")(cli_history.rollback)
command(name="devcontainer")(cli_devcontainer.devcontainer)
command(name="kube")(cli_devcontainer.kube)
command(name="up")(cli_services.up)
command(name="down")(cli_services.down)
command(name="services")(cli_services.services)
command(name="logs")(cli_services.logs)
