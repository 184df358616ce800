"""`devbox build` and `devbox lock`: build the project here, follow devbox's own lock write with
its trust record, and say what happened in one line."""

from __future__ import annotations

from pathlib import Path

from devbox import nofollow
from devbox.activation import trust
from devbox.activation.entry import spec_here
from devbox.build.progress import Display
from devbox.build.stack import build_box
from devbox.errors import DevboxError
from devbox.plan import lockfile
from devbox.store.paths import Store


def build_here(display: Display, *, locked: bool, no_cache: bool) -> str:
    spec, data = spec_here()
    mark = trust.lock_mark(spec)
    metas = build_box(spec, Store.default(), display, no_cache=no_cache, locked=locked)
    trust.follow_lock(spec, data, mark, lambda: metas)
    size = sum(m.size for m in metas) / 2**20
    how = " exactly as devbox.lock says" if locked else ""
    return f"{spec.name}: ready{how} ({len(metas)} layers, {size:.0f} MiB)"


def lock_here(display: Display, *, update: bool) -> str:
    spec, data = spec_here()
    path = lockfile.lock_path(spec)
    before = _text(path)
    mark = trust.lock_mark(spec)
    metas = build_box(spec, Store.default(), display, update=update)
    trust.follow_lock(spec, data, mark, lambda: metas)
    after = _text(path)
    state = "unchanged" if before == after else ("written" if before is None else "updated")
    return f"{path}: {state}"


def _text(path: Path) -> str | None:
    try:
        return nofollow.read_file(path).decode(errors="replace")
    except (OSError, DevboxError):
        return None
