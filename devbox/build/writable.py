"""Before a build: would the box's writable layer be reset, and what does it hold? The box
resets it when it next starts on a stack of layers other than the one it was made on
(sandbox.start); a build that makes such a stack says so first, so nothing is lost unwarned."""

from __future__ import annotations

import os

from devbox import nofollow
from devbox.build.progress import Display
from devbox.errors import DevboxError, printable
from devbox.plan import resolve
from devbox.spec.model import Spec
from devbox.store.paths import ProjectPaths, Store

KEEP = (
    "to keep such things, make them a [setup] step in devbox.toml (built into the box), or "
    "install Python packages into a venv in the project (`python -m venv .venv`: the working "
    "tree is never reset)"
)


def reset_ahead(spec: Spec, st: Store, idmap: str) -> list[str]:
    """The top-level entries of the writable layer (as `/opt`), if building `spec` now makes
    the box start on a new stack and so resets it; [] when nothing would be lost."""
    p = ProjectPaths(st.project_dir(spec.project))
    try:
        have = p.stack_file.read_text()
        # the box's `/`: names only, nothing in it is followed
        with os.scandir(p.upper) as entries:
            names = sorted(f"/{printable(e.name)}" for e in entries)
    except OSError:
        return []
    names = [n for n in names if n != "/etc" or not _only_accounts(p)]
    if not names:
        return []
    want = resolve.stack(spec, st, idmap)
    if want is not None and "\n".join(want) == have:
        return []
    return names


# what devbox itself writes in the writable layer: the user's line in /etc/passwd and /etc/group
# (tiers 2 and 3; sandbox/supervisor.sh.in), made again at every start
ACCOUNTS = {"passwd", "group"}


def _only_accounts(p: ProjectPaths) -> bool:
    """Does the writable layer's /etc hold only what devbox wrote there? Opened without
    following a link (the box can make its /etc one)."""
    try:
        fd = nofollow.open_dir(p.upper, "etc")
    except (OSError, DevboxError):
        return False
    try:
        return set(os.listdir(fd)) <= ACCOUNTS
    finally:
        os.close(fd)


def warning(names: list[str]) -> str:
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return (
        "devbox: this build changes the box's layers, so its writable layer will be reset when "
        f"the box next starts: what was installed or changed outside the working tree ({shown}: "
        f"`pip install`s through a shim, `apt install`s as --root) goes; {KEEP}"
    )


def warn(spec: Spec, st: Store, idmap: str, display: Display) -> list[str]:
    """Say so if building `spec` resets the writable layer; what it holds ([] if nothing)."""
    held = reset_ahead(spec, st, idmap)
    if held:
        display.info(warning(held))
    return held
