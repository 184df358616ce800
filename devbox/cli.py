"""The command line (typer). Thin: parse, call a plain function, print."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from devbox import __version__
from devbox.build.progress import Display
from devbox.errors import DevboxError, terminal
from devbox.spec.model import Spec
from devbox.store.paths import Store

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Per-project reproducible Linux userlands: declarative, locked, rootless, fast to enter.",
)


class Options:
    verbose = False
    quiet = False


OPTS = Options()


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
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
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


@app.command()
def init(
    base: Annotated[str, typer.Option("--base", help="debian:<suite>")] = "debian:bookworm",
    template: Annotated[
        str, typer.Option("--template", "-t", help="python, node, c or minimal")
    ] = "minimal",
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing devbox.toml.")
    ] = False,
) -> None:
    """Write a starter devbox.toml here."""
    from devbox.commands.init import init as do_init

    path = do_init(Path(os.getcwd()), base=base, template=template, force=force)
    _display().info(f"wrote {path}; `devbox build` builds it, `devbox shell` enters it")


@app.command()
def build(
    locked: Annotated[
        bool,
        typer.Option(
            "--locked", help="Build exactly what devbox.lock says, or fail and change nothing."
        ),
    ] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Rebuild every layer.")] = False,
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
    display.info(build_here(display, locked=locked, no_cache=no_cache, yes=yes))


@app.command()
def lock(
    update: Annotated[
        bool, typer.Option("--update", help="Resolve every layer afresh, ignoring the lock.")
    ] = False,
) -> None:
    """Resolve the spec and write devbox.lock, without entering the box."""
    from devbox.commands.building import lock_here

    display = _display()
    display.info(lock_here(display, update=update))


@app.command(
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def run(
    command: Annotated[list[str], typer.Argument(help="The command and its arguments.")],
    root: Annotated[bool, typer.Option("--root", help="Run as root in the box.")] = False,
) -> None:
    """Run one command in the box; its exit status is devbox's."""
    _enter(command, root)


@app.command()
def shell(
    root: Annotated[bool, typer.Option("--root", help="Be root in the box.")] = False,
) -> None:
    """An interactive shell in the box; `exit` returns here."""
    _enter(None, root)


@app.command()
def status() -> None:
    """This project's box: base, layers, lock state."""
    from devbox.commands.status import status_lines

    for line in status_lines(_spec(), Store.default()):
        _echo(line)


@app.command()
def reset() -> None:
    """Discard the box's writable layer (changes made outside the working tree)."""
    from devbox.commands.reset import reset as do_reset

    spec = _spec()
    do_reset(spec, Store.default())
    _display().info(f"{spec.name}: writable layer reset")


@app.command()
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
) -> None:
    """Delete layers and state that no live project uses; print what was freed."""
    from devbox.commands.gc import collect, parse_duration
    from devbox.sandbox.host import current_tier

    try:
        age = parse_duration(older_than) if older_than else None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="'--older-than'") from None
    st = Store.default()
    freed = collect(st, current_tier(), dry_run=dry_run, older_than=age)
    verb = "would free" if dry_run else "freed"
    for what, size in freed.items:
        _echo(f"  {size / 2**20:8.1f} MiB  {what}")
    if freed.kept:
        _echo(f"kept {len(freed.kept)} unused item(s) used within {older_than}:")
        for what in freed.kept:
            _echo(f"  {what}")
    _echo(f"{verb} {freed.total / 2**20:.1f} MiB in {st.root}")


@app.command()
def doctor() -> None:
    """Check the host: user namespaces, subuid ranges, bwrap, overlayfs, mmdebstrap."""
    from devbox.commands.doctor import report, run_checks

    checks, tier, works = run_checks()
    for line in report(checks, tier, works):
        _echo(line)
    if not works:
        raise typer.Exit(1)


@app.command()
def ls() -> None:
    """Every box and layer in the store: sizes, which projects use them, last used."""
    from devbox.commands.listing import listing

    for line in listing(Store.default()):
        _echo(line)


@app.command()
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


@app.command()
def hook(shell: Annotated[str, typer.Argument(help="bash, zsh or fish")]) -> None:
    """Print the auto-activation hook: eval "$(devbox hook bash)" in ~/.bashrc."""
    from devbox.activation.hook import hook_text

    typer.echo(hook_text(shell), nl=False)


@app.command()
def activate(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish (default: this shell)")] = "",
) -> None:
    """Print the code that activates this project's box here: eval "$(devbox activate)"."""
    from devbox.activation.entry import spec_here
    from devbox.activation.hook import SHELLS, activate_text, check_shell, parent_shell

    shell = shell or parent_shell() or ""
    if not shell:
        raise DevboxError("cannot tell which shell this is", hint=f"name it: {', '.join(SHELLS)}")
    check_shell(shell)
    spec, _ = spec_here()
    typer.echo(activate_text(shell, spec.path), nl=False)


@app.command()
def deactivate() -> None:
    """Leave the active box (a shell function, defined by the hook or `devbox activate`)."""
    raise DevboxError(
        "no box is active in this shell (`devbox deactivate` is a shell function that the hook "
        "and `devbox activate` define)",
        hint='eval "$(devbox hook bash)" (or zsh, fish) activates boxes as you cd',
    )


@app.command()
def allow() -> None:
    """Trust this project for the hook and its shims: its directory, and its devbox.toml,
    devbox.lock and setup inputs as they are now."""
    from devbox.commands.allow import allow_here

    _display().info(allow_here())


@app.command()
def deny() -> None:
    """Stop trusting this project."""
    from devbox.commands.allow import deny_here

    _display().info(deny_here())
