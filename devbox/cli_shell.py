"""The CLI's verbs for the user's shell: the hook, trust, activating by hand, and completion. Plain
functions with typer's annotations; cli.py registers them (after `watch`, in the help's order)."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.build.progress import Display
from devbox.errors import DevboxError


class Options:
    """-v/-q, as the callback in cli.py set them."""

    verbose = False
    quiet = False


OPTS = Options()


def hook(shell: Annotated[str, typer.Argument(metavar="SHELL", help="bash, zsh or fish")]) -> None:
    """Print the auto-activation hook: eval "$(devbox hook bash)" in ~/.bashrc."""
    from devbox.activation.hook import hook_text

    typer.echo(hook_text(shell), nl=False)


def activate(
    shell: Annotated[
        str, typer.Argument(metavar="SHELL", help="bash, zsh or fish (default: this shell)")
    ] = "",
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


def deactivate() -> None:
    """Leave the active box (a shell function, defined by the hook or `devbox activate`)."""
    raise DevboxError(
        "no box is active in this shell (`devbox deactivate` is a shell function that the hook "
        "and `devbox activate` define)",
        hint='eval "$(devbox hook bash)" (or zsh, fish) activates boxes as you cd',
    )


def completion(
    ctx: typer.Context,
    shell: Annotated[str, typer.Argument(metavar="SHELL", help="bash, zsh or fish")],
) -> None:
    """Print shell completion for devbox: eval "$(devbox completion bash)" in ~/.bashrc."""
    from devbox.activation.hook import check_shell
    from devbox.completion import script

    check_shell(shell)
    typer.echo(script(ctx.find_root().command, shell), nl=False)


def allow() -> None:
    """Trust this project for the hook and its shims: its directory, and its devbox.toml,
    devbox.lock and setup inputs as they are now."""
    from devbox.commands.allow import allow_here

    Display(quiet=OPTS.quiet, verbose=OPTS.verbose).info(allow_here())


def deny() -> None:
    """Stop trusting this project."""
    from devbox.commands.allow import deny_here

    Display(quiet=OPTS.quiet, verbose=OPTS.verbose).info(deny_here())
