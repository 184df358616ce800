"""`devbox status`: what this project's box is made of and whether it is current."""

from __future__ import annotations

from typing import Any

from devbox import nofollow
from devbox.commands import controls
from devbox.errors import DevboxError, printable
from devbox.plan import lockcheck, lockfile
from devbox.plan.recipe import LayerRecipe
from devbox.plan.resolve import partial_stack
from devbox.sandbox import holds
from devbox.sandbox.box import Box
from devbox.sandbox.host import current_tier
from devbox.sandbox.sessions import supervisor_pid
from devbox.spec.model import SPEC_NAME, Spec
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
            size, title = store.size_of(st, meta), layer.title
            if meta.lowers:
                image = meta.image or {}
                title += f" ({len(meta.lowers)} image layers; {image.get('os', 'unknown OS')})"
            lines.append(f"  {layer.kind:<7} {digest[:12]}  {_mib(size):>10}  {printable(title)}")
        else:
            lines.append(f"  {layer.kind:<7} {'-':<12}  {'not built':>10}  {layer.title}")
    box = Box(spec, st, tuple(m.digest for m in metas), tier)
    p = box.paths
    upper = fs.disk_usage(p.upper) if p.upper.exists() else 0
    lines.append(f"writable: {_mib(upper)}  ({printable(str(p.upper))})")
    registered = projects.read_project(st, spec.project)
    stack = [d or "" for _, d in found]
    what = changed_inputs(st, found, registered)
    lines.append(f"state:    {spec_state(built, stack, registered, what)}")
    # the lock against the box as built: the planned one, else the last built, if still stored
    last = None if all(built) else stored(st, (registered or {}).get("stack"))
    lines.append(f"lock:     {lock_state(spec, [la for la, _ in found], metas, last)}")
    lines.append(f"trust:    {trust_state(spec)} (auto-activation: `devbox allow` / `deny`)")
    lines.append(f"running:  {running_state(p)}")
    if spec.services:
        lines.append(f"services: {services_state(spec, p)}")
    lines += controls.lines(spec, tier, st)
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
    """No, or yes and why: the shells that hold it, the sessions inside, or how long it lingers."""
    pid = supervisor_pid(p)
    return "no" if pid is None else holds.why_up(p, pid).describe()


def services_state(spec: Spec, p: ProjectPaths) -> str:
    from devbox.services.supervise import Files, running

    up = running(Files.of(p))
    names = ", ".join(s.name for s in spec.services)
    if not up:
        return f"{names}: none running (`devbox up`)"
    return f"running: {', '.join(up)} of {names} (`devbox services`)"


def spec_state(
    built: list[bool],
    stack: list[str],
    registered: dict[str, Any] | None,
    what: str = SPEC_NAME,
) -> str:
    """Is the box up to date with devbox.toml: every planned layer in the store, and that
    stack the one this project was last built (or entered) with? `what` changed, if so."""
    changed = registered is not None and registered.get("stack") != stack
    missing = built.count(False)
    if missing:
        todo = f"needs `devbox build` ({missing} of {len(built)} layers to build)"
        return f"{what} changed since the last build: {todo}" if changed else todo
    if registered is None:
        return "every layer is in the store, but this project has not used them yet " + (
            "(`devbox build` takes them up, building nothing)"
        )
    if changed:
        return f"{what} changed since the last build; every layer is in the store " + (
            "(`devbox build` takes them up, building nothing)"
        )
    return "up to date with devbox.toml"


def changed_inputs(
    st: Store, found: list[tuple[LayerRecipe, str | None]], registered: dict[str, Any] | None
) -> str:
    """What changed since the last build: "setup input NAME" when only setup inputs did (the
    layers below and the steps are the same), else devbox.toml."""
    old = (registered or {}).get("stack")
    if not isinstance(old, list) or len(old) != len(found) or found[-1][0].kind != "setup":
        return SPEC_NAME
    layer = found[-1][0]
    if [d for _, d in found[:-1]] != old[:-1] or not isinstance(old[-1], str):
        return SPEC_NAME
    try:
        recipe = store.read_meta(st, old[-1]).recipe if store.has_layer(st, old[-1]) else {}
    except DevboxError:
        return SPEC_NAME
    a, b = dict(recipe.get("inputs") or {}), dict(layer.recipe.get("inputs") or {})
    if {**recipe, "inputs": None} != {**layer.recipe, "inputs": None}:
        return SPEC_NAME
    names = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if not names:
        return SPEC_NAME
    return ("setup input " if len(names) == 1 else "setup inputs ") + printable(", ".join(names))


def lock_state(
    spec: Spec,
    layers: list[LayerRecipe],
    metas: list[store.LayerMeta],
    last: list[store.LayerMeta] | None = None,
) -> str:
    """Does devbox.lock record the spec's requests (`layers`) and say what the box holds,
    field by field? The verdict `build --locked` reaches (lockcheck). `metas`: the layers built
    as the lock pins them (all of `layers`, or the box is not built to the lock); `last`: else
    the box as last built, if still stored."""
    lock = lockfile.lock_path(spec)
    try:
        data = nofollow.read_file(lock)
    except FileNotFoundError:
        return "none (devbox build writes devbox.lock)"
    except (OSError, DevboxError) as e:
        return f"unreadable ({e})"
    doc = lockfile.read(lock)
    if doc is None:
        return "damaged: not valid TOML (`devbox build` rewrites it; `--locked` refuses it)"
    problem = lockcheck.version_problem(doc)
    if problem is not None:
        return (
            f"not readable by this devbox: {problem} (`devbox build --locked` refuses it; "
            "`devbox lock --update` rewrites it)"
        )
    asked = lockfile.mismatch(doc, layers)
    if asked is not None:
        return (
            f"{printable(asked)} (`devbox build --locked` refuses it; `devbox build` rewrites it)"
        )
    if len(metas) < len(layers):
        diffs = lockcheck.differences(doc, spec, last) if last else []
        if not diffs:
            return "present; checked once the box is built"
        return (
            f"pins what is not built, unlike the box as last built: "
            f"{printable(lockcheck.summary(diffs))} (`devbox build --locked` builds it or says "
            "why not; `devbox build` rewrites what the archive no longer has)"
        )
    diffs = lockcheck.differences(doc, spec, metas)
    if diffs:
        return (
            f"differs from the box: {printable(lockcheck.summary(diffs))} "
            "(`devbox build --locked` refuses it; `devbox build` rewrites it)"
        )
    if lockfile.render(spec, metas).encode() != data:
        return "matches the box (laid out differently: `devbox build` rewrites it)"
    return "matches the box"


def stored(st: Store, stack: Any) -> list[store.LayerMeta] | None:
    """The metas of a registered stack, if every layer of it is still in the store."""
    if not isinstance(stack, list) or not stack:
        return None
    try:
        if not all(isinstance(d, str) and store.has_layer(st, d) for d in stack):
            return None
        return [store.read_meta(st, d) for d in stack]
    except (OSError, ValueError, DevboxError):
        return None
