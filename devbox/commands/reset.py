"""`devbox reset`: discard the box's writable layer (what changed outside the working tree)."""

from __future__ import annotations

from devbox.errors import DevboxError
from devbox.plan import resolve
from devbox.sandbox import start
from devbox.sandbox.box import Box
from devbox.sandbox.host import current_tier
from devbox.spec.model import Spec
from devbox.store.paths import ProjectPaths, Store


def reset(spec: Spec, st: Store) -> list[str]:
    """Stop the project's services and the idle box, and wipe its writable layer; an error if
    a session is inside. What was stopped, a line each."""
    from devbox.activation import hookcache
    from devbox.services import supervise

    hookcache.clear()  # the next cd into any project asks devbox again
    files = supervise.Files.of(ProjectPaths(st.project_dir(spec.project)))
    stopped = supervise.stop_everything(files)
    tier = current_tier()
    box = Box(spec, st, tuple(resolve.stack(spec, st, tier.key) or ()), tier)
    if not start.reset(box):
        raise DevboxError(
            f"the box {spec.name} is in use", hint="exit its shells and runs, then reset again"
        )
    return [f"{name}: stopped" for name in stopped]
