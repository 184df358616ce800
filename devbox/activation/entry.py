"""Entering a box (`run`, `shell`) without the CLI framework: the hot path imports nothing heavy.

`__main__` parses these two verbs' small grammar itself and calls `enter_box`; anything else
(help, bad usage) goes to the typer CLI, which calls the same function.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from devbox.activation.covered import linked, read_spec
from devbox.build.progress import Display
from devbox.errors import DevboxError
from devbox.fastpath import HANDOVER_ENV
from devbox.spec.load import find_spec, parse_bytes
from devbox.spec.model import SPEC_NAME, Spec


def current_spec_path() -> Path:
    """The spec a launcher handed over (once), else the nearest one above the cwd."""
    handed = os.environ.pop(HANDOVER_ENV, None)
    return not_linked(Path(handed)) if handed else spec_path_here()


def not_linked(path: Path) -> Path:
    """`path`, unless it is a symlink: a box can plant one (`evil/devbox.toml` naming a trusted
    project's spec), so every verb refuses it (and reads it with covered.read_spec)."""
    with contextlib.suppress(OSError):
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise linked(path)
    return path


def spec_path_here() -> Path:
    """The nearest devbox.toml at or above the current directory, or a DevboxError saying so."""
    found = find_spec(Path(os.getcwd()))
    if found is None:
        raise DevboxError(
            f"no {SPEC_NAME} in {os.getcwd()} or any parent directory",
            hint="`devbox init` writes a starter one",
        )
    return not_linked(found)


def loaded(path: Path) -> tuple[Spec, bytes]:
    """The spec at `path`, validated, and its content (one read, never through a symlink: what
    is checked is what is trusted)."""
    data = read_spec(path)
    return parse_bytes(path, data), data


def spec_here() -> tuple[Spec, bytes]:
    """This project's spec and its content."""
    return loaded(spec_path_here())


def current_spec() -> Spec:
    return loaded(current_spec_path())[0]


def enter_box(
    command: Sequence[str] | None, *, root: bool, display: Display, named: bool = False
) -> NoReturn:
    """Build the box if needed, write its launcher, then become `command` (or an interactive
    shell) in it. `named`: `devbox run NAME` without `--`, NAME perhaps one of [scripts]."""
    from devbox.activation import launcher

    path = current_spec_path()
    snap = {str(path): launcher.mtime_ns(path)}  # before reading anything it derives from
    spec, data = loaded(path)
    if named and command:
        from devbox.activation.scripts import resolve

        command = resolve(spec, command)
    enter_spec(spec, path, snap, command, root=root, display=display, data=data)


def enter_spec(
    spec: Spec,
    path: Path,
    snap: dict[str, int | None],
    command: Sequence[str] | None,
    *,
    root: bool,
    display: Display,
    data: bytes,
    restamp: Callable[[], None] | None = None,
) -> NoReturn:
    """enter_box for a spec already read (its content: `data`): `snap` holds the spec's mtime
    from before it was. `restamp`: a shim's run, whose trust was checked (called if the trust
    record follows a lock this build wrote); a run the user typed is not checked, but when what
    it enters is not what was allowed, the shims' fast path is reset."""
    from devbox.activation import launcher, trust
    from devbox.build.stack import ensure_built
    from devbox.plan.lockfile import lock_path
    from devbox.sandbox.box import Box
    from devbox.sandbox.enter import enter
    from devbox.sandbox.host import current_tier
    from devbox.store.layers import read_meta
    from devbox.store.paths import Store

    st = Store.default()
    tier = current_tier()
    snap.update(launcher.snapshot(launcher.watched(spec, tier)))
    mark = trust.lock_mark(spec)
    stack = ensure_built(spec, st, display, tier)
    if trust.follow_lock(spec, data, mark, lambda: [read_meta(st, d) for d in stack]) and restamp:
        restamp()  # the record moved: the shim's stamps follow
    if restamp is None and trust.verdict(path, data).state != trust.ALLOWED:
        trust.touch(path)
    box = Box(spec, st, stack, tier)
    snap.update(launcher.snapshot(launcher.layer_files(box)))  # a rebuilt layer: a new meta.json
    lock = lock_path(spec)
    snap[str(lock)] = launcher.mtime_ns(lock)
    try:
        launcher.write(box, snap, str(path))
    except OSError:  # best effort (a read-only store still enters), but never a stale one
        launcher.discard(box)
    if command is None and spec.services:
        from devbox.services.state import mention

        said = mention(spec)
        if said:
            display.info(said)
    enter(box, command, display, root=root)


def parse_fast(args: Sequence[str]) -> tuple[str, list[str] | None, bool, Display, bool] | None:
    """(verb, command, root, display, named) for `[-v|-q] run [--root] [--] CMD...` and
    `[-v|-q] shell [--root]`; None for anything else (typer handles it, with its messages).
    `named`: no `--`, so CMD may name one of the spec's [scripts]."""
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
        return (verb, None, root, display, False) if not rest else None
    named = not rest or rest[0] != "--"
    if not named:
        rest = rest[1:]
    elif not rest or rest[0].startswith("-"):
        return None  # --help, unknown options, or no command: typer explains
    return (verb, rest, root, display, named) if rest else None
