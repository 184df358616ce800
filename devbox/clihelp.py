"""The help screens of the typer CLI (cli.py): plain text, each argument and option shown by a
name a person reads (`COMMAND...`, `--older-than DURATION`), never a Python type (`<bool>`,
`<list[str]>`), and devbox's own `-v`/`-q` listed under every command, where they work too
(`__main__.hoist_globals`)."""

from __future__ import annotations

from typing import Any

import typer.core

GLOBAL_ROWS = (
    ("-v, --verbose", "Show tools' full output (also before the command)."),
    ("-q, --quiet", "Print only errors (also before the command)."),
)


def _argument_name(param: Any) -> str:
    name = str(param.metavar or (param.name or "ARG").upper())
    return name + ("..." if param.nargs != 1 and not name.endswith("...") else "")


def _option_names(param: Any) -> str:
    opts = sorted(param.opts, key=lambda o: (o.startswith("--"), o))
    text = ", ".join(opts)
    if not param.is_flag and not getattr(param, "count", False):
        text += f" {param.metavar or (param.name or 'VALUE').upper()}"
    return text


def _templates() -> str:
    from devbox.commands.templates import names

    return ", ".join(names())


class Command(typer.core.TyperCommand):
    """A typer command whose help names its arguments and options for people."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = ["[OPTIONS]"]
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        args: list[tuple[str, str]] = []
        opts: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            if getattr(param, "hidden", False):
                continue
            help_text = str(getattr(param, "help", None) or "")
            if "{templates}" in help_text:  # listed when shown, not when the CLI loads
                help_text = help_text.replace("{templates}", _templates())
            if param.param_type_name == "argument":
                args.append((_argument_name(param), help_text))
            elif param.param_type_name == "option":
                opts.append((_option_names(param), help_text))
        opts[-1:-1] = GLOBAL_ROWS  # before --help
        if args:
            with formatter.section("Arguments"):
                formatter.write_dl(args)
        with formatter.section("Options"):
            formatter.write_dl(opts)
