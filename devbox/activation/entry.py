"""Entering a box (`run`, `shell`) without the CLI framework: the hot path imports nothing heavy.

`__main__` parses these two verbs' small grammar itself and calls `enter_box`; anything else
(help, bad usage) goes to the typer CLI, which calls the same function.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from devbox import nofollow
from devbox.build.progress import Display
from devbox.errors import DevboxError
from devbox.fastpath import HANDOVER_ENV
from devbox.spec.load import find_spec, load_spec
from devbox.spec.model import SPEC_NAME, Spec


def current_spec_path() -> Path:
    """The spec a launcher handed over (once), else the nearest one above the cwd."""
    handed = os.environ.pop(HANDOVER_ENV, None)
    return Path(handed) if handed else spec_path_here()


def spec_path_here() -> Path:
    """The nearest devbox.toml at or above the current directory, or a DevboxError saying so."""
    found = find_spec(Path(os.getcwd()))
    if found is None:
        raise DevboxError(
            f"no {SPEC_NAME} in {os.getcwd()} or any parent directory",
            hint="`devbox init` writes a starter one",
        )
    return found


def spec_bytes_here() -> tuple[Path, bytes]:
    """This project's devbox.toml and its content, validated (one read: what is checked is what
    is trusted)."""
    from devbox.spec.load import parse_bytes

    found = spec_path_here()
    try:
        data = nofollow.read_file(found)  # a symlink or FIFO the box planted: refused
    except OSError as e:
        raise DevboxError(f"cannot read {found}: {e.strerror or e}") from e
    parse_bytes(found, data)
    return found, data


def current_spec() -> Spec:
    return load_spec(current_spec_path())


def enter_box(command: Sequence[str] | None, *, root: bool, display: Display) -> NoReturn:
    """Build the box if needed, write its launcher, then become `command` (or an interactive
    shell) in it."""
    from devbox.activation import launcher

    path = current_spec_path()
    snap = {str(path): launcher.mtime_ns(path)}  # before reading anything it derives from
    enter_spec(load_spec(path), path, snap, command, root=root, display=display)


def enter_spec(
    spec: Spec,
    path: Path,
    snap: dict[str, int | None],
    command: Sequence[str] | None,
    *,
    root: bool,
    display: Display,
) -> NoReturn:
    """enter_box for a spec already read: `snap` holds the spec's mtime from before it was."""
    from devbox.activation import launcher
    from devbox.build.stack import ensure_built
    from devbox.plan.lockfile import lock_path
    from devbox.sandbox.box import Box
    from devbox.sandbox.enter import enter
    from devbox.sandbox.host import current_tier
    from devbox.store.paths import Store

    st = Store.default()
    tier = current_tier()
    snap.update(launcher.snapshot(launcher.watched(spec, tier)))
    box = Box(spec, st, ensure_built(spec, st, display, tier), tier)
    snap.update(launcher.snapshot(launcher.layer_files(box)))  # a rebuilt layer: a new meta.json
    lock = lock_path(spec)
    snap[str(lock)] = launcher.mtime_ns(lock)
    try:
        launcher.write(box, snap, str(path))
    except OSError:  # best effort (a read-only store still enters), but never a stale one
        launcher.discard(box)
    enter(box, command, display, root=root)


def parse_fast(args: Sequence[str]) -> tuple[str, list[str] | None, bool, Display] | None:
    """(verb, command, root, display) for `[-v|-q] run [--root] [--] CMD...` and
    `[-v|-q] shell [--root]`; None for anything else (typer handles it, with its messages)."""
    verbose = quiet = False
    i = 0
    while i < len(args) and args[i] in ("-v", "--verbose", "-q", "--quiet"):
        verbose |= args[i] in ("-v", "--verbose")
        quiet |= args[i] in ("-q", "--quiet")
        i += 1
    if i >= len(args) or args[i] not in ("run", "shell"):
        return None
    verb, rest = args[i], list(args[i + 1 :])
    root = bool(rest) and rest[0] == "--root"
    if root:
        rest = rest[1:]
    display = Display(quiet=quiet, verbose=verbose)
    if verb == "shell":
        return (verb, None, root, display) if not rest else None
    if rest and rest[0] == "--":
        rest = rest[1:]
    elif not rest or rest[0].startswith("-"):
        return None  # --help, unknown options, or no command: typer explains
    return (verb, rest, root, display) if rest else None
