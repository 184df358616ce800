"""[box] network and ports: what a box can reach, and which of its ports the host's loopback
gets (docs/controls.md#network)."""

from __future__ import annotations

import re

from devbox.spec import validate as v
from devbox.spec.tomlpos import KeyPath
from devbox.spec.validate import Ctx, Table

NETWORKS = ("host", "none", "private")
PORT_FORMS = '"HOST:BOX" or "127.0.0.1:HOST:BOX", e.g. "8000:8000"'
LOOPBACK = "127.0.0.1"  # where ports are published (the only address a port may name)
_PORT_RE = re.compile(r"(?:(?P<addr>[^:]*):)?(?P<host>[^:]*):(?P<box>[^:]*)")


def box_network(ctx: Ctx, box: Table | None) -> tuple[str, tuple[tuple[int, int], ...]]:
    """([box] network, [box] ports as (host port, box port) pairs)."""
    table = box or {}
    text = v.get_str(ctx, table, ("box", "network"))
    network = "host" if text is None else v.one_of(ctx, ("box", "network"), text, NETWORKS)
    ports = _ports(ctx, table)
    if ports and network != "private":
        message = (
            f"ports are published only from a private network, and this box's network is \""
            f'{network}"'
        )
        why = (
            "a box on the host's network listens on the host's ports itself"
            if network == "host"
            else "a box without a network has nothing to publish"
        )
        raise ctx.fail(("box", "ports"), f"{message} ({why})", fix='network = "private"')
    return network, ports


def _ports(ctx: Ctx, table: Table) -> tuple[tuple[int, int], ...]:
    key: KeyPath = ("box", "ports")
    out: list[tuple[int, int]] = []
    for item in v.get_str_list(ctx, table, key):
        m = _PORT_RE.fullmatch(item.strip())
        if m is None:
            raise ctx.fail(key, f'"{item}" is not a port to publish', allowed=PORT_FORMS)
        addr = m.group("addr")
        if addr is not None and addr not in (LOOPBACK, "localhost"):
            message = (
                f'"{item}": ports are published on the host\'s loopback ({LOOPBACK}) only, '
                "not on other addresses"
            )
            raise ctx.fail(key, message, allowed=PORT_FORMS)
        pair = (_number(ctx, key, item, m.group("host")), _number(ctx, key, item, m.group("box")))
        for host, _ in out:
            if host == pair[0]:
                raise ctx.fail(key, f"host port {host} is published twice", allowed=PORT_FORMS)
        out.append(pair)
    return tuple(out)


def _number(ctx: Ctx, key: KeyPath, item: str, text: str) -> int:
    text = text.removesuffix("/tcp")
    if "/" in text:
        raise ctx.fail(key, f'"{item}": only TCP ports are published', allowed=PORT_FORMS)
    if not text.isdigit() or not 0 < int(text) < 65536:
        message = f'"{item}": "{text}" is not a port (1-65535)'
        raise ctx.fail(key, message, allowed=PORT_FORMS)
    return int(text)
