"""`devbox run NAME [ARGS...]`: the spec's [scripts] (spec/scripts.py), resolved the same way by
the launcher (a `case` of shell builtins, `script_cases`) and by the Python path (`resolve`).

`devbox run -- CMD` always runs CMD. Without `--`, a first word that names a script runs the
script; any other word runs as a command, as before scripts existed. `devbox run` alone lists
the scripts.
"""

from __future__ import annotations

from collections.abc import Sequence
from shlex import quote as q

from devbox.errors import EXIT_USAGE, DevboxError
from devbox.spec.model import SPEC_NAME, Spec
from devbox.spec.scripts import script_argv, shown


class NoCommand(DevboxError):
    exit_code = EXIT_USAGE  # a usage error: `devbox run` with nothing to run


def resolve(spec: Spec, command: Sequence[str]) -> list[str]:
    """`devbox run NAME ARGS...` (no `--`): NAME's script with ARGS, else the command as is."""
    scripts = dict(spec.scripts)
    if command and command[0] in scripts:
        return script_argv(command[0], scripts[command[0]], command[1:])
    return list(command)


def script_cases(spec: Spec) -> str:
    """The launcher's lines for the same choice, after its staleness checks; `n` is empty when
    the first word may name a script (DEVBOX_RUN_SCRIPT=1), and "--" once it has been looked up."""
    if not spec.scripts:
        return ""
    arms = [
        f'    {q(name)}) shift; set -- {" ".join(map(q, script_argv(name, script, [])))} "$@" ;;'
        for name, script in spec.scripts
    ]
    return "\n".join(['if [ -z "$n" ]; then', "  n=--", "  case $1 in", *arms, "  esac", "fi", ""])


def listing(spec: Spec) -> str:
    """What `devbox run` with no argument prints (made printable by the caller): each script and
    its command."""
    if not spec.scripts:
        raise NoCommand(
            f"devbox run needs a command: {spec.path} has no [scripts]",
            hint="`devbox run -- CMD` runs a command in the box; [scripts] in "
            f"{SPEC_NAME} names commands for `devbox run NAME`",
        )
    width = max(len(name) for name, _ in spec.scripts)
    lines = [f"scripts of {spec.name} (devbox run NAME [ARGS...]):"]
    lines += [f"  {name.ljust(width)}  {shown(script)}" for name, script in spec.scripts]
    return "\n".join(lines)
