"""`devbox status --json`: the facts of `devbox status` (status.py) as one JSON object with
stable keys (docs/spec.md lists them), for scripts and editors."""

from __future__ import annotations

from typing import Any

from devbox import nofollow
from devbox.commands import controls, status
from devbox.errors import DevboxError
from devbox.plan import lockfile
from devbox.plan.recipe import LayerRecipe
from devbox.plan.resolve import partial_stack
from devbox.sandbox import holds
from devbox.sandbox.box import Box
from devbox.sandbox.host import current_tier
from devbox.sandbox.sessions import inside, supervisor_pid
from devbox.spec.model import Spec
from devbox.store import fs, projects
from devbox.store import layers as store
from devbox.store.paths import ProjectPaths, Store


def status_json(spec: Spec, st: Store) -> dict[str, Any]:
    tier = current_tier()
    out: dict[str, Any] = {
        "box": spec.name,
        "project": str(spec.project),
        "spec": str(spec.path),
        "base": f"{spec.base.kind}:{spec.base.ref}",
        "sandbox": {"tier": tier.level, "description": tier.describe()},
        "trust": status.trust_state(spec),
        "controls": controls.as_json(spec, tier, st),
    }
    try:
        found = partial_stack(spec, st, tier.key)
    except DevboxError as e:
        return {**out, "plan_error": e.message, "layers": [], "up_to_date": False}
    metas = [store.read_meta(st, d) for _, d in found if d is not None]
    sizes = {m.digest: m.size for m in metas}
    built = [d is not None for _, d in found]
    paths = Box(spec, st, tuple(m.digest for m in metas), tier).paths
    registered = projects.read_project(st, spec.project)
    stack = [d or "" for _, d in found]
    pid = supervisor_pid(paths)
    running = pid is not None
    return {
        **out,
        "plan_error": None,
        "layers": [
            {
                "kind": layer.kind,
                "title": layer.title,
                "digest": digest,
                "built": digest is not None,
                "size_bytes": sizes.get(digest) if digest else None,
            }
            for layer, digest in found
        ],
        "layers_to_build": built.count(False),
        "up_to_date": all(built) and registered is not None and registered.get("stack") == stack,
        "state": status.spec_state(
            built, stack, registered, status.changed_inputs(st, found, registered)
        ),
        "writable": {
            "path": str(paths.upper),
            "bytes": fs.disk_usage(paths.upper) if paths.upper.exists() else 0,
        },
        "lock": _lock(spec, st, found, metas, registered),
        "running": running,
        "idle": running and not inside(paths),
        "up": None if pid is None else holds.why_up(paths, pid).as_json(),
        "services": _services(spec, paths),
    }


def _lock(
    spec: Spec,
    st: Store,
    found: list[tuple[LayerRecipe, str | None]],
    built: list[store.LayerMeta],
    registered: dict[str, Any] | None,
) -> dict[str, Any]:
    """Where devbox.lock is, whether it exists, and whether it is what the built box holds
    (None until every layer is built)."""
    complete = len(built) == len(found)
    metas = built if complete else None
    last = None if complete else status.stored(st, (registered or {}).get("stack"))
    path = lockfile.lock_path(spec)
    try:
        data: bytes | None = nofollow.read_file(path)
    except (OSError, DevboxError):
        data = None
    matches = (
        None if data is None or metas is None else lockfile.render(spec, metas).encode() == data
    )
    return {
        "path": str(path),
        "exists": data is not None,
        "matches": matches,
        "state": status.lock_state(spec, [la for la, _ in found], built, last),
    }


def _services(spec: Spec, paths: ProjectPaths) -> dict[str, bool]:
    """Each declared service: running or not."""
    if not spec.services:
        return {}
    from devbox.services.supervise import Files, running

    up = set(running(Files.of(paths)))
    return {s.name: s.name in up for s in spec.services}
