"""[limits]: what a box may use (memory, CPU time, processes), each checked here; how they are
enforced is sandbox/limits.py's."""

from __future__ import annotations

import re

from devbox.spec import validate as v
from devbox.spec.model import Limits
from devbox.spec.tomlpos import KeyPath
from devbox.spec.validate import Ctx, Table

KEYS = ("memory", "cpus", "pids", "strict")
UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
MEMORY_RE = re.compile(r"(?P<n>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[KMGT]?)(?:i?B)?", re.IGNORECASE)
MEMORY_FORMS = 'bytes (an integer) or a size with K, M, G or T (powers of 1024), e.g. "2G", "512M"'
MIN_MEMORY = 16 * 2**20  # below this not even a shell starts in a box
MAX_MEMORY = 2**62
MIN_PIDS = 16  # a session's own processes (bwrap, its init, a shell) count too
MAX_PIDS = 4194304  # the kernel's pid_max ceiling
MIN_CPUS = 0.01  # the kernel's smallest CFS quota is 1 ms per 100 ms
MAX_CPUS = 4096.0


def limits_table(ctx: Ctx, table: Table) -> Limits:
    """[limits] memory, cpus, pids and strict (absent: no limit; strict defaults to true)."""
    v.check_keys(ctx, table, ("limits",), KEYS)
    strict = table.get("strict", True)
    if not isinstance(strict, bool):
        raise v.wrong_type(ctx, ("limits", "strict"), "true or false", strict)
    return Limits(
        memory=memory(ctx, table, ("limits", "memory")),
        cpus=cpus(ctx, table, ("limits", "cpus")),
        pids=pids(ctx, table, ("limits", "pids")),
        strict=strict,
    )


def memory(ctx: Ctx, table: Table, key: KeyPath) -> int | None:
    value = table.get(key[-1])
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise v.wrong_type(ctx, key, f"a size ({MEMORY_FORMS})", value)
    size = value if isinstance(value, int) else parse_size(value)
    if size is None:
        raise ctx.fail(key, f'"{value}" is not a size', allowed=MEMORY_FORMS)
    if not MIN_MEMORY <= size <= MAX_MEMORY:
        literal = ctx.literal(key, value)
        raise ctx.fail(key, f"{literal} is out of range", allowed='at least "16M"')
    return size


def parse_size(text: str) -> int | None:
    """ "2G" -> 2147483648 (K, M, G, T are powers of 1024; "MiB", "MB" read as M); None if
    it is not a size."""
    m = MEMORY_RE.fullmatch(text.strip())
    if m is None:
        return None
    return int(float(m.group("n")) * UNITS[m.group("unit").upper()])


def cpus(ctx: Ctx, table: Table, key: KeyPath) -> float | None:
    value = table.get(key[-1])
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise v.wrong_type(ctx, key, "a number of CPUs (1.5)", value)
    if not MIN_CPUS <= value <= MAX_CPUS:
        literal = ctx.literal(key, value)
        raise ctx.fail(key, f"{literal} CPUs is out of range", allowed="0.01 to 4096, e.g. 1.5")
    return float(value)


def pids(ctx: Ctx, table: Table, key: KeyPath) -> int | None:
    value = table.get(key[-1])
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise v.wrong_type(ctx, key, "a number of processes (an integer)", value)
    if not MIN_PIDS <= value <= MAX_PIDS:
        literal = ctx.literal(key, value)
        raise ctx.fail(key, f"{literal} processes is out of range", allowed="16 to 4194304")
    return value
