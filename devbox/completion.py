"""`devbox completion bash|zsh|fish`: completion scripts for the typer CLI, made from its
commands' own options and filled into the templates beside this module. Static: a Tab runs no
devbox and no Python, only the shell's builtins."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from devbox import template

GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet")  # accepted after every command too


@dataclass(frozen=True)
class Verb:
    name: str
    about: str  # the first line of its help
    options: tuple[str, ...]
    values: dict[str, list[str]]  # an option's values (key: the option), an argument's (key: "")


def values_of(verb: str) -> dict[str, list[str]]:
    """Words that complete an option's value or a command's argument."""
    from devbox.activation.hook import SHELLS
    from devbox.spec.model import DEBIAN_SUITES

    if verb in ("hook", "activate", "completion"):
        return {"": list(SHELLS)}
    if verb == "init":
        from devbox.commands.templates import names as template_names

        names = template_names()
        return {"--template": names, "-t": names, "--base": [f"debian:{s}" for s in DEBIAN_SUITES]}
    return {}


def verbs(group: Any) -> list[Verb]:
    """Every visible command of the CLI `group` (a click group), in the help's order."""
    out = []
    for name in group.commands:
        cmd = group.commands[name]
        if getattr(cmd, "hidden", False):
            continue
        opts = [o for p in cmd.params if p.param_type_name == "option" for o in p.opts]
        about = (cmd.help or "").strip().split("\n")[0].rstrip(".")
        out.append(Verb(name, about, (*opts, *GLOBAL_FLAGS), values_of(name)))
    return out


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_option(condition: str, opt: str, words: list[str] | None) -> str:
    flag = f"-l {opt[2:]}" if opt.startswith("--") else f"-s {opt[1:]}"
    takes = f" -x -a {_fish_quote(' '.join(words))}" if words else ""
    return f"complete -c devbox -n {_fish_quote(condition)} {flag}{takes}"


def fish(group: Any) -> str:
    first = "__fish_use_subcommand"
    lines = [_fish_option(first, o, None) for p in group.params for o in p.opts]
    for verb in verbs(group):
        about = _fish_quote(verb.about)
        lines.append(f"complete -c devbox -n {first} -a {verb.name} -d {about}")
        seen = f"__fish_seen_subcommand_from {verb.name}"
        lines += [_fish_option(seen, o, verb.values.get(o)) for o in verb.options]
        if "" in verb.values:
            words = _fish_quote(" ".join(verb.values[""]))
            lines.append(f"complete -c devbox -n {_fish_quote(seen)} -a {words}")
        if verb.name == "run":
            # the command `run` runs, completed as if typed on its own
            run = _fish_quote("(__fish_complete_subcommand --fcs-skip=2)")
            lines.append(f"complete -c devbox -n {_fish_quote(seen)} -x -a {run}")
    code = template.Code("\n".join(lines))
    return template.fill(template.load(__file__, "completion.fish.in"), {"COMPLETIONS": code})


def _tables(group: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Each verb's options, and the values after `VERB OPTION` (or of VERB's argument)."""
    options, values = {}, {}
    for verb in verbs(group):
        options[verb.name] = " ".join(verb.options)
        for opt, words in verb.values.items():
            values[f"{verb.name} {opt}" if opt else verb.name] = " ".join(words)
    return options, values


def bash(group: Any) -> str:
    options, values = _tables(group)
    lines = [
        f"{name}[{shlex.quote(k)}]={shlex.quote(v)}"
        for name, table in (("opts", options), ("values", values))
        for k, v in table.items()
    ]
    return template.fill(
        template.load(__file__, "completion-bash.sh.in"),
        {
            "TABLES": template.Code("\n  ".join(lines)),
            "GLOBAL": " ".join(o for p in group.params for o in p.opts),
            "COMMANDS": " ".join(v.name for v in verbs(group)),
        },
    )


def zsh(group: Any) -> str:
    options, values = _tables(group)

    def pairs(table: dict[str, str]) -> template.Code:
        return template.Code(
            " ".join(f"{shlex.quote(k)} {shlex.quote(v)}" for k, v in table.items())
        )

    described = " ".join(shlex.quote(f"{v.name}:{v.about}") for v in verbs(group))
    return template.fill(
        template.load(__file__, "completion.zsh.in"),
        {
            "COMMANDS": template.Code(described),
            "OPTIONS": pairs(options),
            "VALUES": pairs(values),
            "GLOBAL": " ".join(o for p in group.params for o in p.opts),
        },
    )


def script(group: Any, shell: str) -> str:
    """The completion script for `shell` (bash, zsh or fish; check it first)."""
    return {"bash": bash, "zsh": zsh, "fish": fish}[shell](group)
