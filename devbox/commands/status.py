"""`devbox status`: what this project's box is made of and whether it is current."""

from __future__ import annotations

from typing import Any

from devbox import nofollow
from devbox.errors import DevboxError, printable
from devbox.plan import lockfile
from devbox.plan.resolve import partial_stack
from devbox.sandbox.box import Box
from devbox.sandbox.host import current_tier
from devbox.sandbox.sessions import inside, supervisor_pid
from devbox.spec.model import Spec
from devbox.store import fs, projects
from devbox.store import layers as store
from devbox.store.paths import ProjectPaths, Store


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def status_lines(spec: Spec, st: Store) -> list[str]:
    lines = [
        f"box:      {spec.name}",
        f"project:  {printable(str(spec.project))}",
        f"base:     {spec.base.kind}:{printable(spec.base.ref)}",
    ]
    tier = current_tier()
    try:
        found = partial_stack(spec, st, tier.key)
    except DevboxError as e:
        return [*lines, f"plan:     {e.message}"]
    built = [digest is not None for _, digest in found]
    lines.append("layers:")
    metas = []
    for layer, digest in found:
        if digest is not None:
            meta = store.read_meta(st, digest)
            metas.append(meta)
            lines.append(f"  {layer.kind:<7} {digest[:12]}  {_mib(meta.size):>10}  {layer.title}")
        else:
            lines.append(f"  {layer.kind:<7} {'-':<12}  {'not built':>10}  {layer.title}")
    box = Box(spec, st, tuple(m.digest for m in metas), tier)
    p = box.paths
    upper = fs.disk_usage(p.upper) if p.upper.exists() else 0
    lines.append(f"writable: {_mib(upper)}  ({printable(str(p.upper))})")
    registered = projects.read_project(st, spec.project)
    stack = [d or "" for _, d in found]
    lines.append(f"state:    {spec_state(built, stack, registered)}")
    lines.append(f"lock:     {lock_state(spec, metas if all(built) else None)}")
    lines.append(f"trust:    {trust_state(spec)} (auto-activation: `devbox allow` / `deny`)")
    lines.append(f"running:  {running_state(p)}")
    lines.append(f"sandbox:  {tier.describe()}")
    return lines


def trust_state(spec: Spec) -> str:
    """Allowed, not allowed, or what changed since (spec, lock, setup inputs)."""
    from devbox.activation import covered, trust

    try:
        return trust.describe(trust.verdict(spec.path, covered.read_spec(spec.path)))
    except DevboxError as e:
        return f"{trust.NOT_ALLOWED} ({e.message})"


def running_state(p: ProjectPaths) -> str:
    if supervisor_pid(p) is None:
        return "no"
    if inside(p):
        return "yes"
    return "yes, idle (it stops after a while without sessions, or on `devbox reset`)"


def spec_state(built: list[bool], stack: list[str], registered: dict[str, Any] | None) -> str:
    """Is the box up to date with devbox.toml: every planned layer in the store, and that
    stack the one this project was last built (or entered) with?"""
    changed = registered is not None and registered.get("stack") != stack
    missing = built.count(False)
    if missing:
        todo = f"needs `devbox build` ({missing} of {len(built)} layers to build)"
        return f"devbox.toml changed since the last build: {todo}" if changed else todo
    if registered is None:
        return "every layer is in the store, but this project has not used them yet " + (
            "(`devbox build` takes them up, building nothing)"
        )
    if changed:
        return "devbox.toml changed since the last build; every layer is in the store " + (
            "(`devbox build` takes them up, building nothing)"
        )
    return "up to date with devbox.toml"


def lock_state(spec: Spec, metas: list[store.LayerMeta] | None) -> str:
    """Does devbox.lock say what the current layers hold? (`metas`: None if not all built.)"""
    lock = lockfile.lock_path(spec)
    try:
        data = nofollow.read_file(lock)
    except FileNotFoundError:
        return "none (devbox build writes devbox.lock)"
    except (OSError, DevboxError) as e:
        return f"unreadable ({e})"
    if metas is None:
        return "present; checked once the box is built"
    if lockfile.render(spec, metas).encode() == data:
        return "matches the box"
    return "differs from the box (devbox build rewrites it)"
