"""[services.NAME]: long-lived commands in a box (a database, a cache, the app's server), each
checked here, and put in dependency order (a cycle is an error naming it)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from devbox.spec import validate as v
from devbox.spec.envtable import ENV_NAME_RE
from devbox.spec.model import Ready, Service
from devbox.spec.tables import relative_path_problem
from devbox.spec.tomlpos import KeyPath
from devbox.spec.validate import Ctx, Table

KEYS = ("command", "ready", "env", "depends_on", "restart", "stop_signal", "stop_timeout",
        "ready_timeout", "box", "user")  # fmt: skip
SERVICE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
RESTARTS = ("on-failure", "no")
SIGNALS = ("TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2", "WINCH")
READY_FORMS = '"tcp:PORT", "unix:/PATH" (a socket in the box) or a command that exits 0'
_PORT = re.compile(r"[0-9]{1,5}|\$\{[A-Za-z_][A-Za-z0-9_]*\}")  # devbox substitutes ${NAME} only
MAX_SECONDS = 3600.0


def services_table(ctx: Ctx, table: Table) -> tuple[Service, ...]:
    """Every [services.NAME], in an order where each comes after what it depends on (file
    order otherwise)."""
    found: dict[str, Service] = {}
    for name, value in table.items():
        key: KeyPath = ("services", name)
        if not SERVICE_NAME_RE.fullmatch(name):
            allowed = "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
            raise ctx.fail(key, f'"{name}" is not a valid service name', allowed=allowed)
        if not isinstance(value, Mapping):
            raise v.wrong_type(ctx, key, f"a table ([services.{name}])", value)
        found[name] = service(ctx, name, value)
    for s in found.values():
        others = [n for n in found if n != s.name]
        for dep in s.depends_on:
            if dep not in found:
                key = ("services", s.name, "depends_on")
                hint = v.did_you_mean(dep, others)
                allowed = ", ".join(others) or "no other service is defined"
                raise ctx.fail(key, f'"{dep}" is not a service here{hint}', allowed=allowed)
    return ordered(ctx, found)


def service(ctx: Ctx, name: str, table: Table) -> Service:
    key: KeyPath = ("services", name)
    v.check_keys(ctx, table, key, KEYS)
    command = v.get_str(ctx, table, (*key, "command"))
    if command is None or not command.strip():
        what = "missing" if command is None else "empty"
        example = 'command = "redis-server --port 6379"'
        raise ctx.fail((*key, "command") if command is not None else key,
                       f"{what}: a service needs a command", allowed=example)  # fmt: skip
    depends = v.get_str_list(ctx, table, (*key, "depends_on"))
    if name in depends:
        raise ctx.fail((*key, "depends_on"), f"{name} depends on itself")
    twice = sorted({d for d in depends if depends.count(d) > 1})
    if twice:
        raise ctx.fail((*key, "depends_on"), f'"{twice[0]}" is listed twice')
    restart = v.get_str(ctx, table, (*key, "restart")) or "on-failure"
    return Service(
        name=name,
        command=command,
        ready=_ready(ctx, table, (*key, "ready")),
        env=_env(ctx, table, (*key, "env")),
        depends_on=depends,
        restart=v.one_of(ctx, (*key, "restart"), restart, RESTARTS),
        stop_signal=_signal(ctx, table, (*key, "stop_signal")),
        stop_timeout=_seconds(ctx, table, (*key, "stop_timeout"), 10.0),
        ready_timeout=_seconds(ctx, table, (*key, "ready_timeout"), 60.0),
        box=_box(ctx, table, (*key, "box")),
        user=_user(ctx, table, (*key, "user")),
    )  # fmt: skip


def _ready(ctx: Ctx, table: Table, key: KeyPath) -> Ready | None:
    text = v.get_str(ctx, table, key)
    if text is None:
        return None
    kind, sep, rest = text.partition(":")
    if sep and kind == "tcp":
        port = rest.strip()
        if not _PORT.fullmatch(port) or (port.isdigit() and not 0 < int(port) < 65536):
            message = f'"{text}": the port must be 1-65535 or ${{NAME}} from the env'
            raise ctx.fail(key, message, allowed=READY_FORMS)
        return Ready("tcp", str(int(port)) if port.isdigit() else port)
    if sep and kind == "unix":
        path = rest.strip()
        if not path.startswith("/") and not path.startswith("${"):
            message = f'"{text}": the socket path must be absolute (in the box) or ${{NAME}}...'
            raise ctx.fail(key, message, allowed=READY_FORMS)
        return Ready("unix", path)
    if not text.strip():
        raise ctx.fail(key, "empty", allowed=READY_FORMS)
    if ":" in text.split()[0]:  # "http://...", "udp:53": a command by that name cannot be meant
        message = f'"{text}": "{kind}:" is not a kind of ready devbox knows'
        raise ctx.fail(key, message, allowed=READY_FORMS)
    return Ready("command", text)


def _env(ctx: Ctx, table: Table, key: KeyPath) -> tuple[tuple[str, str], ...]:
    env = v.get_table(ctx, table, key)
    out: list[tuple[str, str]] = []
    for name, value in (env or {}).items():
        if not ENV_NAME_RE.fullmatch(name):
            allowed = "letters, digits and '_', not starting with a digit"
            message = f'"{name}" is not a valid environment variable name'
            raise ctx.fail((*key, name), message, allowed=allowed)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # PORT = 5433 means what PORT = "5433" means
        if not isinstance(value, str):
            raise v.wrong_type(ctx, (*key, name), "a string", value, quote_hint=True)
        out.append((name, value))
    return tuple(out)


def _signal(ctx: Ctx, table: Table, key: KeyPath) -> str:
    text = v.get_str(ctx, table, key)
    if text is None:
        return "TERM"
    name = text.upper().removeprefix("SIG")
    if name in SIGNALS:
        return name
    choices = " | ".join(f'"{s}"' for s in SIGNALS)
    hint = v.did_you_mean(name, SIGNALS)
    raise ctx.fail(key, f'"{text}" is not a signal a service can stop with{hint}', allowed=choices)


def _seconds(ctx: Ctx, table: Table, key: KeyPath, default: float) -> float:
    value = table.get(key[-1])
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise v.wrong_type(ctx, key, "a number of seconds", value)
    if not 0 < value <= MAX_SECONDS:
        literal = ctx.literal(key, value)
        raise ctx.fail(
            key, f"{literal} seconds is out of range", allowed="more than 0, at most 3600"
        )
    return float(value)


def _box(ctx: Ctx, table: Table, key: KeyPath) -> str | None:
    text = v.get_str(ctx, table, key)
    if text is None:
        return None
    problem = relative_path_problem(text)
    if problem is not None:
        allowed = 'a directory of the project holding a devbox.toml, e.g. "services/db"'
        raise ctx.fail(key, f'"{text}" {problem}', allowed=allowed)
    parts = [p for p in text.split("/") if p and p != "."]
    if ".." in parts:
        raise ctx.fail(key, f'"{text}" has .. in it', allowed="a path inside the project")
    if parts and parts[-1] == "devbox.toml":
        parts = parts[:-1]
    return "/".join(parts) or None  # "." is this project's own box


USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def _user(ctx: Ctx, table: Table, key: KeyPath) -> str | None:
    name = v.get_str(ctx, table, key)
    if name is not None and not USER_RE.fullmatch(name):
        allowed = 'a user name of the box, e.g. "postgres"'
        raise ctx.fail(key, f'"{name}" is not a user name', allowed=allowed)
    return name


def ordered(ctx: Ctx, found: Mapping[str, Service]) -> tuple[Service, ...]:
    """Dependencies first, otherwise file order; a cycle is an error that names it."""
    out: list[Service] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: placed

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*path[path.index(name) :], name])
            key: KeyPath = ("services", path[-1], "depends_on")
            raise ctx.fail(
                key, f"a dependency cycle: {cycle}", allowed="depends_on without a cycle"
            )
        state[name] = 1
        for dep in found[name].depends_on:
            visit(dep, [*path, name])
        state[name] = 2
        out.append(found[name])

    for name in found:
        visit(name, [])
    return tuple(out)
