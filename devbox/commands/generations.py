"""`devbox history`: this project's generations, newest first: which one the box uses now,
what changed from the one before, and whether its layers are all still stored."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.history import changes
from devbox.history.records import Generation, current, generations
from devbox.store import layers as store
from devbox.store import projects
from devbox.store.paths import Store


@dataclass(frozen=True)
class Row:
    gen: Generation
    current: bool
    stored: bool
    changes: changes.Changes | None  # None: the oldest recorded
    older: Generation | None = None


def registered_stack(st: Store, project: Path) -> list[str] | None:
    info = projects.read_project(st, project)
    stack = info.get("stack") if info else None
    return [d for d in stack if isinstance(d, str)] if isinstance(stack, list) else None


def stored(st: Store, gen: Generation) -> bool:
    """Is every layer of the generation in the store (an image base's image layers too)?"""
    return all(store.has_layer(st, d) for d in store.expand(st, gen.stack))


def rows(st: Store, project: Path) -> list[Row]:
    gens = generations(st, project)
    now = current(gens, registered_stack(st, project))
    out = []
    for i, gen in enumerate(gens):
        older = gens[i + 1] if i + 1 < len(gens) else None
        what = None if older is None else changes.between(older.lock, gen.lock)
        out.append(Row(gen, gen is now, stored(st, gen), what, older))
    return out


def age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def describe(row: Row) -> str:
    if row.changes is None:
        base = changes.lock_state(row.gen.lock).base if row.gen.lock else ""
        return f"the oldest recorded ({base})" if base else "the oldest recorded"
    said = changes.summary(row.changes)
    if said or row.older is None:
        return said
    if row.older.spec_sha256 != row.gen.spec_sha256:
        return "devbox.toml changed, the packages did not"
    if row.older.lock_sha256 != row.gen.lock_sha256:
        return "devbox.lock changed, the packages did not"
    return "the same spec and lock, its layers built again"


def history_lines(st: Store, project: Path, now: float | None = None) -> list[str]:
    listed = rows(st, project)
    if not listed:
        return ["no generations yet: each successful build that changes the box records one"]
    at = time.time() if now is None else now
    lines = []
    for row in listed:
        mark = "*" if row.current else " "
        layers = "stored" if row.stored else "gone"
        when = age(at - row.gen.time)
        lines.append(f"{mark}{row.gen.n:>4}  {when:<11} layers {layers:<7} {_safe(row)}")
    if not any(r.current for r in listed):
        lines.append("the box uses none of these now (it was built some other way since)")
    else:
        lines.append("* the box uses this one now; `devbox rollback N` goes to another")
    return lines


def _safe(row: Row) -> str:
    try:
        return describe(row)
    except ValueError:
        return "(a lock devbox cannot read)"


def history_json(st: Store, project: Path) -> dict[str, Any]:
    listed = rows(st, project)
    return {
        "project": str(project),
        "current": next((r.gen.n for r in listed if r.current), None),
        "generations": [
            {
                "n": r.gen.n,
                "time": r.gen.time,
                "box": r.gen.box,
                "current": r.current,
                "layers_stored": r.stored,
                "spec_sha256": r.gen.spec_sha256,
                "lock_sha256": r.gen.lock_sha256,
                "stack": list(r.gen.stack),
                "changes": None if r.changes is None else r.changes.to_json(),
            }
            for r in listed
        ],
    }
