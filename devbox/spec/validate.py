"""Generic checks for devbox.toml values: types, unknown keys, and one error per problem.

Each check takes a ``Ctx`` (the file and where its keys are) and a key path; on a problem it
raises the ``SpecError`` that names the file, the dotted key path and the line.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from devbox.errors import DevboxError, SpecError
from devbox.spec.imageref import parse_reference
from devbox.spec.tomlpos import KeyPath, dotted, line_of

Table = Mapping[str, object]


@dataclass(frozen=True)
class Ctx:
    file: str  # the file as the user named it
    lines: Mapping[KeyPath, int]
    source: tuple[str, ...] = ()  # the file's lines, to quote a value as the user wrote it

    def fail(
        self, key: KeyPath, message: str, allowed: str | None = None, fix: str | None = None
    ) -> SpecError:
        return SpecError(
            self.file,
            message,
            key=dotted(key) if key else None,
            line=line_of(self.lines, key),
            allowed=allowed,
            fix=fix,
        )

    def literal(self, key: KeyPath, value: object) -> str:
        """`value` (of `key`) as TOML writes it; a number as written in the file (`3.10`, which
        TOML reads as 3.1)."""
        line = line_of(self.lines, key)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and key and line is not None and 0 < line <= len(self.source):
            name = re.escape(key[-1])
            at = re.search(rf"""(?:^|[\s{{,.])["']?{name}["']?\s*=\s*""", self.source[line - 1])
            token = _SCALAR.match(self.source[line - 1][at.end() :]) if at else None
            if token:
                return token.group(0)
        return toml_literal(value)


_SCALAR = re.compile(r"[^\s,#}\]]+")


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
    """A value as TOML writes it (``true``, ``3``, ``["git"]``), for hints."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_literal(v)}" for k, v in value.items()) + " }"
    return str(value)


def wrong_type(
    ctx: Ctx, key: KeyPath, expected: str, value: object, quote_hint: bool = False
) -> SpecError:
    """Expected one type, found another; ``quote_hint`` suggests quoting a scalar."""
    found = type_name(value)
    if quote_hint and isinstance(value, (bool, int, float, date, time)):
        literal = ctx.literal(key, value)
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


# -- [cache] ---------------------------------------------------------------------------------------

CACHE_FORM = 'HOST[:PORT]/REPOSITORY, e.g. "registry.example.com/team/devbox-cache"'


def registry_problem(text: str) -> str | None:
    """Why `text` is not a team cache's repository (`HOST[:PORT]/REPO`, no tag, no digest)."""
    if not text or any(c.isspace() for c in text) or "://" in text:
        return f'"{text}" is not a repository'
    if "@" in text or ":" in text.rpartition("/")[2]:
        return f'"{text}" names a tag or digest: the cache names each entry by its own tag'
    host, slash, _ = text.partition("/")
    if not slash or not ("." in host or ":" in host or host == "localhost"):
        return f'"{text}" names no registry host'
    try:
        parse_reference(text)
    except DevboxError as e:
        return e.message
    return None


def cache_registry(ctx: Ctx, table: Table) -> str | None:
    """[cache] registry: where the team layer cache is, or None."""
    text = get_str(ctx, table, ("cache", "registry"))
    if text is None:
        return None
    problem = registry_problem(text)
    if problem is not None:
        raise ctx.fail(("cache", "registry"), problem, allowed=CACHE_FORM)
    return text
