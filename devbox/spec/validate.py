"""Generic checks for devbox.toml values: types, unknown keys, and one error per problem.

Each check takes a ``Ctx`` (the file and where its keys are) and a key path; on a problem it
raises the ``SpecError`` that names the file, the dotted key path and the line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import PurePosixPath

from devbox.errors import SpecError
from devbox.spec.tomlpos import KeyPath, dotted, line_of

Table = Mapping[str, object]

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
APT_RE = re.compile(r"(?P<name>[a-z0-9][a-z0-9+.-]+)(?:=(?P<version>[A-Za-z0-9.+~:*?-]+))?")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Ctx:
    file: str  # the file as the user named it
    lines: Mapping[KeyPath, int]

    def fail(self, key: KeyPath, message: str, allowed: str | None = None) -> SpecError:
        return SpecError(
            self.file,
            message,
            key=dotted(key) if key else None,
            line=line_of(self.lines, key),
            allowed=allowed,
        )


def type_name(value: object) -> str:
    """What TOML calls the type of a parsed value, with an article."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (date, datetime, time)):
        return "a date/time"
    return type(value).__name__


def toml_literal(value: object) -> str:
    """A scalar as TOML writes it (``true``, ``3``), for "quote it" hints."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def wrong_type(
    ctx: Ctx, key: KeyPath, expected: str, value: object, quote_hint: bool = False
) -> SpecError:
    """Expected one type, found another; ``quote_hint`` suggests quoting a scalar."""
    found = type_name(value)
    if quote_hint and isinstance(value, (bool, int, float, date, time)):
        literal = toml_literal(value)
        return ctx.fail(
            key,
            f'expected a string, found {found} ({literal}); quote it: "{literal}"',
        )
    return ctx.fail(key, f"expected {expected}, found {found}")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


def check_keys(
    ctx: Ctx, table: Table, path: KeyPath, allowed: Sequence[str], what: str = "key"
) -> None:
    """Every key of ``table`` must be one of ``allowed``."""
    for key in table:
        if key not in allowed:
            raise ctx.fail(
                (*path, key),
                f"unknown {what}{did_you_mean(key, allowed)}",
                allowed=", ".join(allowed),
            )


def get_table(ctx: Ctx, parent: Table, path: KeyPath) -> Table | None:
    value = parent.get(path[-1])
    if value is None or isinstance(value, Mapping):
        return value
    raise wrong_type(ctx, path, f"a table ([{dotted(path)}])", value)


def get_str(ctx: Ctx, table: Table, path: KeyPath) -> str | None:
    value = table.get(path[-1])
    if value is None or isinstance(value, str):
        return value
    raise wrong_type(ctx, path, "a string", value)


def get_str_list(ctx: Ctx, table: Table, path: KeyPath, single: bool = False) -> tuple[str, ...]:
    """An array of strings (or, with ``single``, one string meaning a one-item array)."""
    value = table.get(path[-1])
    if value is None:
        return ()
    if single and isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        expected = "a string or an array of strings" if single else "an array of strings"
        raise wrong_type(ctx, path, expected, value)
    for n, item in enumerate(value, 1):
        if not isinstance(item, str):
            raise ctx.fail(path, f"expected an array of strings, but item {n} is {type_name(item)}")
    return tuple(value)


def one_of(ctx: Ctx, path: KeyPath, value: str, allowed: Sequence[str]) -> str:
    if value in allowed:
        return value
    choices = " | ".join(f'"{a}"' for a in allowed)
    raise ctx.fail(path, f'"{value}" is not allowed{did_you_mean(value, allowed)}', allowed=choices)


# -- values ----------------------------------------------------------------------------------------


def default_name(directory: str) -> str:
    """A valid box name from a directory name: other characters become '-'."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", directory)
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)[:63]
    return name or "box"


def box_name(ctx: Ctx, box: Table) -> str | None:
    name = get_str(ctx, box, ("box", "name"))
    if name is not None and not NAME_RE.fullmatch(name):
        allowed = "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        raise ctx.fail(("box", "name"), f'"{name}" is not a valid box name', allowed=allowed)
    return name


def apt_packages(ctx: Ctx, table: Table) -> tuple[str, ...]:
    """[packages] apt: Debian package names, each at most once, optionally =VERSION or =GLOB."""
    key: KeyPath = ("packages", "apt")
    packages = get_str_list(ctx, table, key)
    seen: dict[str, str] = {}
    for item in packages:
        match = APT_RE.fullmatch(item)
        if match is None:
            allowed = 'name, name=VERSION or name=GLOB, e.g. "git", "libpq-dev=15.*"'
            raise ctx.fail(key, f'"{item}" is not a Debian package name', allowed=allowed)
        name = match.group("name")
        if name in seen:
            raise ctx.fail(key, f'package {name} is listed twice: "{seen[name]}" and "{item}"')
        seen[name] = item
    return packages


def env_vars(ctx: Ctx, table: Table) -> tuple[tuple[str, str], ...]:
    """[env]: NAME = "value" pairs, in file order."""
    env: list[tuple[str, str]] = []
    for name, value in table.items():
        if not ENV_NAME_RE.fullmatch(name):
            allowed = "letters, digits and '_', not starting with a digit"
            message = f'"{name}" is not a valid environment variable name'
            raise ctx.fail(("env", name), message, allowed=allowed)
        if not isinstance(value, str):
            raise wrong_type(ctx, ("env", name), "a string", value, quote_hint=True)
        env.append((name, value))
    return tuple(env)


def setup_run(ctx: Ctx, table: Table) -> tuple[str, ...]:
    run = get_str_list(ctx, table, ("setup", "run"), single=True)
    if any(not command.strip() for command in run):
        raise ctx.fail(("setup", "run"), "a command is empty", allowed="shell command lines")
    return run


def setup_inputs(ctx: Ctx, table: Table) -> tuple[str, ...]:
    inputs = get_str_list(ctx, table, ("setup", "inputs"))
    for item in inputs:
        problem = relative_path_problem(item)
        if problem:
            allowed = 'paths relative to the project, e.g. "requirements.txt"'
            raise ctx.fail(("setup", "inputs"), f'"{item}" {problem}', allowed=allowed)
    return inputs


def relative_path_problem(text: str) -> str | None:
    """Why ``text`` is not a path inside the project, or None if it is one."""
    if not text:
        return "is empty"
    if PurePosixPath(text).is_absolute():
        return "is an absolute path"
    depth = 0
    for part in PurePosixPath(text).parts:
        depth += -1 if part == ".." else 1
        if depth < 0:
            return "is outside the project"
    return None


def shell_program(ctx: Ctx, table: Table) -> str | None:
    program = get_str(ctx, table, ("shell", "program"))
    if program is not None and (not program or any(c.isspace() for c in program)):
        allowed = 'a command name or an absolute path, e.g. "bash", "/bin/zsh"'
        raise ctx.fail(("shell", "program"), f'"{program}" is not a program', allowed=allowed)
    return program


def shell_workdir(ctx: Ctx, table: Table) -> str | None:
    workdir = get_str(ctx, table, ("shell", "workdir"))
    if workdir is None:
        return None
    parts = workdir.split("/")
    if not workdir.startswith("/") or ".." in parts or not workdir.strip("/"):
        message = f'"{workdir}" is not an absolute path below /'
        raise ctx.fail(("shell", "workdir"), message, allowed='an absolute path, e.g. "/workspace"')
    return workdir


def shell_expose(ctx: Ctx, table: Table) -> tuple[str, ...]:
    expose = get_str_list(ctx, table, ("shell", "expose"))
    for command in expose:
        if not command or "/" in command or any(c.isspace() for c in command):
            allowed = 'command names without "/", e.g. "psql"'
            raise ctx.fail(
                ("shell", "expose"), f'"{command}" is not a command name', allowed=allowed
            )
    return expose
