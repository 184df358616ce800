"""[share]: what of the host's session a box gets (the display, audio, the GPU, the ssh agent,
the user's git config, host directories), each key checked here. What exists on the host is
looked at when a session starts (sandbox/share.py); here only the form."""

from __future__ import annotations

from collections.abc import Mapping

from devbox.spec import validate as v
from devbox.spec.model import Share, ShareBind
from devbox.spec.tables import TABLES
from devbox.spec.tomlpos import KeyPath
from devbox.spec.validate import Ctx, Table

KEYS = TABLES["share"]
BIND_KEYS = ("host", "box", "mode")
MODES = ("ro", "rw")
BIND_FORM = '{ host = "~/datasets", box = "/data", mode = "ro" } (mode "ro" or "rw")'
# What devbox mounts in every session (sandbox/argv.py, sandbox/share.py): a bind there or
# above would hide it. The kernel's file systems and devbox's own read-only dirs take no bind
# below them either.
OWN_MOUNTS = ("/proc", "/dev", "/sys", "/tmp", "/run", "/run/devbox", "/run/devbox-host",
              "/etc/resolv.conf", "/etc/hosts", "/tmp/.X11-unix")  # fmt: skip
NOTHING_BELOW = ("/proc", "/dev", "/sys", "/run/devbox", "/run/devbox-host")


def share_table(ctx: Ctx, table: Table, shell: Table) -> Share:
    """[share] (the [shell] table beside it: a home mounted from the host has its git config)."""
    gitconfig = _flag(ctx, table, "gitconfig", True)
    if not gitconfig and shell.get("home") == "host":
        message = "gitconfig = false hides nothing from a box that mounts your home"
        allowed = 'gitconfig = false with [shell] home = "isolated" (the default)'
        raise ctx.fail(("share", "gitconfig"), message, allowed=allowed)
    return Share(
        display=_flag(ctx, table, "display", False),
        audio=_flag(ctx, table, "audio", False),
        gpu=_flag(ctx, table, "gpu", False),
        ssh_agent=_flag(ctx, table, "ssh_agent", False),
        gitconfig=gitconfig,
        binds=_binds(ctx, table),
    )


def _flag(ctx: Ctx, table: Table, name: str, default: bool) -> bool:
    value = table.get(name, default)
    if not isinstance(value, bool):
        raise v.wrong_type(ctx, ("share", name), "true or false", value)
    return value


def _binds(ctx: Ctx, table: Table) -> tuple[ShareBind, ...]:
    key: KeyPath = ("share", "binds")
    value = table.get("binds")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise v.wrong_type(ctx, key, f"an array of tables, e.g. [{BIND_FORM}]", value)
    out: list[ShareBind] = []
    for n, item in enumerate(value, 1):
        bind = _bind(ctx, key, n, item)
        for other in out:
            if other.box == bind.box:
                raise ctx.fail(key, f'bind {n}: "{bind.box}" is already bound', allowed=BIND_FORM)
        out.append(bind)
    # parents first: a bind below another one's box path lands in it, whatever the file order
    return tuple(sorted(out, key=lambda b: b.box.count("/")))


def _bind(ctx: Ctx, key: KeyPath, n: int, item: object) -> ShareBind:
    if not isinstance(item, Mapping):
        message = f"expected an array of tables, but item {n} is {v.type_name(item)}"
        raise ctx.fail(key, message, allowed=BIND_FORM)
    for name in item:
        if name not in BIND_KEYS:
            message = f'bind {n}: unknown key "{name}"{v.did_you_mean(name, BIND_KEYS)}'
            raise ctx.fail(key, message, allowed=", ".join(BIND_KEYS))
    fields: dict[str, str] = {}
    for name in BIND_KEYS:
        text = item.get(name)
        if text is None and name != "mode":
            raise ctx.fail(key, f"bind {n}: missing {name}", allowed=BIND_FORM)
        if text is not None and not isinstance(text, str):
            message = f"bind {n}: {name}: expected a string, found {v.type_name(text)}"
            raise ctx.fail(key, message, allowed=BIND_FORM)
        fields[name] = text or ""
    mode = fields["mode"] or "ro"
    if mode not in MODES:
        message = f'bind {n}: mode "{mode}" is not allowed{v.did_you_mean(mode, MODES)}'
        raise ctx.fail(key, message, allowed='"ro" | "rw"')
    problem = host_problem(fields["host"]) or box_problem(fields["box"])
    if problem is not None:
        raise ctx.fail(key, f"bind {n}: {problem}", allowed=BIND_FORM)
    return ShareBind(fields["host"], normal(fields["box"]), mode)


def host_problem(text: str) -> str | None:
    """Why `text` is not a host path a bind can name (`~`, `~/...` or absolute), or None."""
    if text == "~" or text.startswith(("~/", "/")):
        return None if "\0" not in text else f'host "{text}" holds a NUL byte'
    if text.startswith("~"):
        return f'host "{text}": only your own home can be named with ~ ("~/..."), not another\'s'
    return f'host "{text}" is neither absolute nor under ~'


def box_problem(text: str) -> str | None:
    """Why `text` cannot be a bind's path in the box, or None."""
    if not text.startswith("/") or "\0" in text:
        return f'box "{text}" is not an absolute path'
    if {".", ".."} & set(text.split("/")):
        return f'box "{text}" has a "." or ".." in it'
    path = normal(text)
    if path == "/":
        return 'box "/" would hide the whole box'
    for own in OWN_MOUNTS:
        if path == own or own.startswith(path.rstrip("/") + "/"):
            return f'box "{text}" would hide {own}, which devbox mounts in every session'
    for own in NOTHING_BELOW:
        if path.startswith(own + "/"):
            return f'box "{text}" is below {own}, where nothing else can be mounted'
    return None


def normal(text: str) -> str:
    """A box path as bwrap gets it: no trailing or doubled slash."""
    return "/" + "/".join(p for p in text.split("/") if p)
