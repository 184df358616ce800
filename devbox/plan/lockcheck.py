"""Does devbox.lock say exactly what a box holds? Every field, one verdict for `build --locked`
(which refuses a lock that disagrees) and `devbox status` (which reports it).

The lock devbox would write for the built layers (lockfile.render) is compared with the lock on
disk table by table and key by key: a field edited, added or removed is named with both values,
so no field of the lock is taken on trust (an interpreter's version edited by hand is not
"exactly as devbox.lock says" while the box holds another)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from devbox.errors import DevboxError
from devbox.plan.lockfile import LOCK_NAME, LOCK_VERSION, mismatch, render
from devbox.plan.recipe import LayerRecipe
from devbox.spec.model import Spec
from devbox.store.layers import LayerMeta

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SHOWN = 4  # differences named in one message; the rest are counted
ABSENT = object()


def version_problem(doc: dict[str, Any]) -> str | None:
    """Why this devbox cannot read the lock's format (None: it can)."""
    got = doc.get("lock-version", ABSENT)
    if got == LOCK_VERSION and type(got) is int:
        return None
    said = "has no lock-version" if got is ABSENT else f"has lock-version = {_show(got)}"
    return f"{LOCK_NAME} {said}; this devbox reads lock-version {LOCK_VERSION}"


def newer(doc: dict[str, Any]) -> bool:
    """A lock written by a newer devbox: an older one must not rewrite it."""
    got = doc.get("lock-version")
    return isinstance(got, int) and not isinstance(got, bool) and got > LOCK_VERSION


def before_build(
    doc: dict[str, Any] | None, layers: Sequence[LayerRecipe], *, locked: bool
) -> None:
    """Refuse a build this lock forbids: one written by a newer devbox (rewriting it would
    lose what it says); with `--locked`, a lock of another format or for another request."""
    if doc is not None and newer(doc) and not locked:
        raise DevboxError(
            f"{version_problem(doc)} (a newer devbox wrote it)",
            hint="upgrade devbox; `devbox lock --update` rewrites the lock in this one's format",
        )
    if locked:
        why = (doc and version_problem(doc)) or mismatch(doc, layers)
        if why is not None:
            raise DevboxError(
                f"`--locked`: {why}", hint="`devbox lock` resolves the spec and rewrites the lock"
            )


def after_locked_build(doc: dict[str, Any], spec: Spec, metas: Sequence[LayerMeta]) -> None:
    """`--locked`: every field of devbox.lock must say what was built (as `devbox status`
    checks it), or the build changes nothing."""
    diffs = differences(doc, spec, metas)
    if diffs:
        raise DevboxError(
            f"`--locked`: {LOCK_NAME} does not say what was built: {summary(diffs)}",
            hint=f"devbox writes {LOCK_NAME}: restore it (`git diff {LOCK_NAME}`), or "
            "`devbox build` rewrites it to what was built",
        )


def differences(doc: dict[str, Any], spec: Spec, metas: Sequence[LayerMeta]) -> list[str]:
    """Every field where the lock `doc` and what the box `metas` hold differ, one line each."""
    problem = version_problem(doc)
    if problem is not None:
        return [problem]
    want = tomllib.loads(render(spec, metas))
    out: list[str] = []
    _diff(doc, want, (), out)
    return out


def summary(diffs: list[str]) -> str:
    more = len(diffs) - SHOWN
    return "; ".join(diffs[:SHOWN]) + (f" (and {more} more)" if more > 0 else "")


def _diff(have: Any, want: Any, path: tuple[str, ...], out: list[str]) -> None:
    keys = [*want, *(k for k in have if k not in want)]
    for k in keys:
        a, b = have.get(k, ABSENT), want.get(k, ABSENT)
        if isinstance(a, dict) and isinstance(b, dict):
            _diff(a, b, (*path, k), out)
        elif isinstance(a, dict) or isinstance(b, dict):
            table = "[" + ".".join((*path, k)) + "]"
            out.append(f"{table} is in {LOCK_NAME} but not in the box" if b is ABSENT else
                       f"{table} is missing from {LOCK_NAME}" if a is ABSENT else
                       f"{table} is not a table in {LOCK_NAME}")  # fmt: skip
        elif a != b or type(a) is not type(b):
            where = f"[{'.'.join(path)}] {k}" if path else k
            out.append(f"{where} is {_show(a)} in {LOCK_NAME}, {_show(b)} in the box")


def _show(v: Any) -> str:
    return "absent" if v is ABSENT else json.dumps(v, ensure_ascii=False)
