"""`devbox status`: what this project's box is made of and whether it is current."""

from __future__ import annotations

from . import lockfile, store
from .box import Box, supervisor_pid
from .errors import DevboxError
from .host import current_tier
from .paths import Store
from .resolve import partial_stack
from .spec import Spec


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def status_lines(spec: Spec, st: Store) -> list[str]:
    lines = [
        f"box:      {spec.name}",
        f"project:  {spec.project}",
        f"base:     {spec.base.kind}:{spec.base.ref}",
    ]
    tier = current_tier()
    try:
        found = partial_stack(spec, st, tier)
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
    upper = store.disk_usage(p.upper) if p.upper.exists() else 0
    lines.append(f"writable: {_mib(upper)}  ({p.upper})")
    lines.append(f"state:    {'up to date' if all(built) else 'needs `devbox build`'}")
    lock = lockfile.lock_path(spec)
    if not lock.exists():
        lines.append("lock:     none (devbox build writes devbox.lock)")
    elif all(built):
        current = lockfile.render(spec, metas) == lock.read_text()
        state = "matches the box" if current else "differs from the box (devbox build rewrites it)"
        lines.append(f"lock:     {state}")
    else:
        lines.append("lock:     present")
    running = supervisor_pid(p) is not None
    lines.append(f"running:  {'yes' if running else 'no'}")
    lines.append(f"sandbox:  {tier.describe()}")
    return lines
