"""What changed between two generations, read from their lock texts (pure), and which
generation `devbox rollback [N]` means.

A lock has one table per layer, bottom first (base, apt, interpreters.NAME, setup), each with
the packages that layer added or changed (`[TABLE.packages]`) and those it removed (`removed`):
walking them in order gives the box's packages.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from devbox.errors import DevboxError
from devbox.history.records import Generation

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SHOWN = 4  # items of a kind named in the one-line summary


@dataclass(frozen=True)
class LockState:
    """What a lock text says the box holds."""

    base: str = ""
    packages: dict[str, str] = field(default_factory=dict)
    interpreters: dict[str, str] = field(default_factory=dict)  # name -> version (or request)
    setup: tuple[str, ...] = ()  # the steps and the inputs' hashes; () for no [setup]


@dataclass(frozen=True)
class Changes:
    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (old, new)
    interpreters: dict[str, tuple[str, str]] = field(default_factory=dict)  # "" for none
    base: tuple[str, str] | None = None
    setup: bool = False
    unreadable: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": {k: {"from": a, "to": b} for k, a, b in _flat(self.changed)},
            "interpreters": {
                k: {"from": a or None, "to": b or None} for k, a, b in _flat(self.interpreters)
            },
            "base": None if self.base is None else {"from": self.base[0], "to": self.base[1]},
            "setup": self.setup,
        }


def _flat(d: dict[str, tuple[str, str]]) -> list[tuple[str, str, str]]:
    return [(k, a, b) for k, (a, b) in d.items()]


def _layers(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for name, table in doc.items():
        if not isinstance(table, dict):
            continue
        if name == "interpreters":
            out += [(f"interpreters.{k}", t) for k, t in table.items() if isinstance(t, dict)]
        else:
            out.append((name, table))
    return out


def lock_state(text: str) -> LockState:
    """The packages, interpreters, base and setup a lock text records; ValueError if it is not
    a lock."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(str(e)) from None
    packages: dict[str, str] = {}
    interpreters: dict[str, str] = {}
    base = ""
    setup: tuple[str, ...] = ()
    for name, table in _layers(doc):
        for gone in table.get("removed", []) if isinstance(table.get("removed"), list) else []:
            packages.pop(str(gone), None)
        got = table.get("packages")
        if isinstance(got, dict):
            packages.update({str(k): str(v) for k, v in got.items()})
        if name == "base":
            base = str(table.get("source", ""))
        elif name.startswith("interpreters."):
            version = table.get("version", table.get("requested", ""))
            interpreters[name.removeprefix("interpreters.")] = str(version)
        elif name == "setup":
            inputs = table.get("inputs")
            hashes = sorted(inputs.items()) if isinstance(inputs, dict) else []
            setup = (repr(table.get("run")), repr(hashes))
    return LockState(base, packages, interpreters, setup)


def between(old: str | None, new: str) -> Changes:
    """What changed from the lock text `old` (None: the first generation, so nothing) to `new`."""
    if old is None:
        return Changes()
    try:
        a, b = lock_state(old), lock_state(new)
    except ValueError:
        return Changes(unreadable=True)
    pa, pb = a.packages, b.packages
    ia, ib = a.interpreters, b.interpreters
    return Changes(
        added={k: pb[k] for k in sorted(set(pb) - set(pa))},
        removed={k: pa[k] for k in sorted(set(pa) - set(pb))},
        changed={k: (pa[k], pb[k]) for k in sorted(set(pa) & set(pb)) if pa[k] != pb[k]},
        interpreters={
            k: (ia.get(k, ""), ib.get(k, ""))
            for k in sorted(set(ia) | set(ib))
            if ia.get(k) != ib.get(k)
        },
        base=None if a.base == b.base else (a.base, b.base),
        setup=a.setup != b.setup,
    )


def _some(items: list[str]) -> str:
    more = len(items) - SHOWN
    return ", ".join(items[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def summary(c: Changes) -> str:
    """The changes in one line ("" when the lock records the same box)."""
    if c.unreadable:
        return "(a lock devbox cannot read)"
    parts = []
    if c.base:
        parts.append(f"base {c.base[0]} -> {c.base[1]}")
    for name, (a, b) in c.interpreters.items():
        parts.append(f"{name} {a} -> {b}" if a and b else f"{name} {b} added" if b else
                     f"{name} {a} removed")  # fmt: skip
    if c.added:
        parts.append("added " + _some([f"{k} {v}" for k, v in c.added.items()]))
    if c.removed:
        parts.append("removed " + _some(list(c.removed)))
    if c.changed:
        parts.append("changed " + _some([f"{k} {a} -> {b}" for k, (a, b) in c.changed.items()]))
    if c.setup:
        parts.append("[setup] changed")
    return "; ".join(parts)


def choose(gens: Sequence[Generation], current: Generation | None, n: int | None) -> Generation:
    """The generation `devbox rollback [N]` goes to: N, or without N the one before the current
    (the newest below it; the newest of all when no generation is current)."""
    if not gens:
        raise DevboxError(
            "this project has no build history yet",
            hint="each successful `devbox build` that changes the box records a generation",
        )
    numbers = ", ".join(str(g.n) for g in sorted(gens, key=lambda g: g.n))
    if n is not None:
        found = next((g for g in gens if g.n == n), None)
        if found is None:
            raise DevboxError(
                f"there is no generation {n} of this project (it has {numbers})",
                hint="`devbox history` lists them",
            )
        return found
    if current is None:
        return max(gens, key=lambda g: g.n)
    before = [g for g in gens if g.n < current.n]
    if not before:
        raise DevboxError(
            f"generation {current.n}, the current one, is the oldest this project has",
            hint="`devbox rollback N` goes to a newer one; `devbox history` lists them",
        )
    return max(before, key=lambda g: g.n)
