"""Just enough of npm's semver ranges to pick the npm release that supports a node version:
`||` alternatives of space-separated comparators (^, ~, >=, >, <=, <, =, bare, x-ranges)."""

from __future__ import annotations

import re

Version = tuple[int, int, int]
_COMP = re.compile(r"(\^|~|>=|<=|>|<|=)?\s*v?(\d+|x|\*)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?")


def parse(v: str) -> Version | None:
    m = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", v.strip())
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def _parts(m: re.Match[str]) -> list[int | None]:
    return [None if g in (None, "x", "*") else int(g) for g in (m[2], m[3], m[4])]


def _comparator(op: str, parts: list[int | None], v: Version) -> bool:
    known = [p for p in parts if p is not None]
    lo = tuple(known + [0] * (3 - len(known)))
    if op in ("", "="):
        return list(v[: len(known)]) == known
    if op == ">=":
        return v >= lo
    if op == ">":
        return v > lo if len(known) == 3 else list(v[: len(known)]) > known
    if op == "<":
        return v < lo
    if op == "<=":
        return v <= lo if len(known) == 3 else list(v[: len(known)]) <= known
    if op == "~":
        n = 2 if len(known) > 1 else 1  # ~1.2.3 and ~1.2 fix 1.2; ~1 fixes 1
        return v >= lo and list(v[:n]) == known[:n]
    # ^: the leftmost non-zero part is fixed
    fixed = next((i for i, p in enumerate(known) if p != 0), len(known) - 1) + 1
    return v >= lo and list(v[:fixed]) == known[:fixed]


def satisfies(version: str, spec: str) -> bool:
    v = parse(version)
    if v is None:
        return False
    for alt in spec.split("||"):
        alt = alt.strip()
        if not alt or alt == "*":
            return True
        comps = list(_COMP.finditer(alt))
        if comps and all(_comparator(m[1] or "", _parts(m), v) for m in comps):
            return True
    return False
