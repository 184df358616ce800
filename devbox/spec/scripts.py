"""[scripts]: named commands of the project, run by `devbox run NAME [ARGS...]`.

A script is a shell command line (run by the box's `sh -c`) or an array of words (run as they
are). Extra arguments go after the command: appended to an array; for a command line, given as
"$@" at its end, unless the line uses its arguments itself ($@, $*, $1 ... $9), which then
stands as written. The launcher (activation/launcher.py) and the Python path build the same
argv from `script_argv`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from devbox.spec import validate as v
from devbox.spec.tomlpos import KeyPath
from devbox.spec.validate import Ctx, Table

Script = str | tuple[str, ...]
SCRIPT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}")
_USES_ARGS = re.compile(r"\$(\{?[@*1-9])")


def scripts_table(ctx: Ctx, table: Table) -> tuple[tuple[str, Script], ...]:
    """[scripts]: NAME = "command line" or NAME = ["argv", ...], in file order."""
    out: list[tuple[str, Script]] = []
    for name, value in table.items():
        key: KeyPath = ("scripts", name)
        if not SCRIPT_NAME_RE.fullmatch(name):
            allowed = "1-63 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
            raise ctx.fail(key, f'"{name}" is not a valid script name', allowed=allowed)
        if isinstance(value, str):
            if not value.strip():
                raise ctx.fail(key, "the command is empty", allowed="a shell command line")
            out.append((name, value))
            continue
        if not isinstance(value, list):
            raise v.wrong_type(ctx, key, "a command line or an array of words", value)
        words = v.get_str_list(ctx, table, key)
        if not words or not words[0]:
            raise ctx.fail(key, "the command is empty", allowed='words, e.g. ["pytest", "-x"]')
        out.append((name, words))
    return tuple(out)


def command_line(script: str) -> str:
    """The line `sh -c` runs for a command-line script: "$@" appended unless it uses them."""
    if _USES_ARGS.search(script):
        return script
    return script.rstrip() + ' "$@"'


def script_argv(name: str, script: Script, args: Sequence[str]) -> list[str]:
    """The argv that runs script `name` with `args` in the box."""
    if isinstance(script, tuple):
        return [*script, *args]
    return ["sh", "-c", command_line(script), name, *args]


def shown(script: Script) -> str:
    """A script as `devbox run` lists it."""
    if isinstance(script, str):
        return script
    import shlex

    return shlex.join(script)
