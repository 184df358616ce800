"""`devbox build` and `devbox lock`: build the project here, follow devbox's own lock write with
its trust record, and say what happened in one line."""

from __future__ import annotations

import sys
from pathlib import Path

from devbox import nofollow
from devbox.activation import desktop, trust
from devbox.activation.entry import spec_here
from devbox.build import writable
from devbox.build.progress import Display
from devbox.build.stack import build_box
from devbox.errors import DevboxError
from devbox.plan import lockcheck, lockfile
from devbox.plan.recipe import plan
from devbox.sandbox.host import current_tier
from devbox.store.layers import size_of
from devbox.store.paths import Store


def build_here(
    display: Display, *, locked: bool, no_cache: bool, yes: bool = False, push_cache: bool = False
) -> str:
    spec, data = spec_here()
    st = Store.default()
    tier = current_tier()
    # what the lock forbids is said before anything is asked (build_box checks it again)
    doc = lockfile.read(lockfile.lock_path(spec))
    lockcheck.before_build(doc, plan(spec, idmap=tier.key), locked=locked)
    if writable.warn(spec, st, tier.key, display) and not yes:
        _confirm(display)
    mark = trust.lock_mark(spec)
    metas = build_box(spec, st, display, no_cache=no_cache, locked=locked)
    trust.follow_lock(spec, data, mark, lambda: metas)
    desktop.refresh_or_say(spec, data, display.info)  # an allowed project's, for the new box
    size = sum(size_of(st, m) for m in metas) / 2**20
    if push_cache:
        from devbox.teamcache.upload import push_cache as push

        push(spec, st, tier, metas, display)
    how = " exactly as devbox.lock says" if locked else ""
    return f"{spec.name}: ready{how} ({len(metas)} layers, {size:.0f} MiB)"


def lock_here(display: Display, *, update: bool) -> str:
    spec, data = spec_here()
    path = lockfile.lock_path(spec)
    before = _text(path)
    mark = trust.lock_mark(spec)
    st = Store.default()
    writable.warn(spec, st, current_tier().key, display)  # said; `lock` asks nothing
    metas = build_box(spec, st, display, update=update)
    trust.follow_lock(spec, data, mark, lambda: metas)
    after = _text(path)
    state = "unchanged" if before == after else ("written" if before is None else "updated")
    return f"{path}: {state}"


def _text(path: Path) -> str | None:
    try:
        return nofollow.read_file(path).decode(errors="replace")
    except (OSError, DevboxError):
        return None


def _confirm(display: Display) -> None:
    """On a terminal, the user decides whether to go on (Enter: yes); elsewhere (CI, a pipe)
    the build goes on, the warning said."""
    if not (sys.stdin.isatty() and display.out.isatty()):
        return
    display.out.write("go on and build? [Y/n] ")
    display.out.flush()
    line = sys.stdin.readline()
    if not line:  # end of input (Ctrl-D): not a yes
        display.out.write("\n")
    if not line or line.strip().lower() not in ("", "y", "yes"):
        raise DevboxError(
            "nothing was built; the box and its writable layer are as they were",
            hint="keep what you need first (above), then `devbox build --yes`",
        )
