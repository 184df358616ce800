"""Columns for reports (`devbox ls`): sizes for people, times, tables that line up."""

from __future__ import annotations

import time

UNITS = ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))


def human(n: int) -> str:
    """A size for people: 0 B, 512 B, 3.5 KiB, 242.1 MiB, 1.3 GiB."""
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def in_one_unit(sizes: list[int]) -> list[str]:
    """Sizes for one column, all in the unit that suits the largest (MiB at least), so they
    line up and compare at a glance: 177.4 MiB, 0.0 MiB, 1.3 GiB and 0.2 GiB."""
    top = max(sizes, default=0)
    scale, unit = next(((s, u) for s, u in UNITS[:2] if top >= s), UNITS[1])
    return [f"{n / scale:.1f} {unit}" for n in sizes]


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts is not None else "unknown"


def table(rows: list[list[str]], right: frozenset[int] = frozenset()) -> list[str]:
    """Columns padded to their widest cell (right-aligned where asked), two spaces apart."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(r, widths))
        ]
        out.append(("  " + "  ".join(cells)).rstrip())
    return out


def iso(ts: float | None) -> str | None:
    """A time for `--json`: ISO 8601 in UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts is not None else None
