"""`devbox rollback [N]`: put a generation's devbox.toml and devbox.lock back, and make the box
use its stack: registered at once when every layer is stored (nothing is built), else built as
any build is (the team cache included).

The two files go into the working tree, which a box can write: each is a new file renamed over
the old one under the project's directory fd (nofollow), and a symlinked devbox.toml is refused.
If anything fails before the box uses the generation, both files are put back as they were.

Trust: an allow covers exact contents. A rollback restores the trust the user gave this very
spec and lock before (activation.trust remembers earlier allowed states), and nothing more: a
spec never allowed stays "changed since allowed" until `devbox allow`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from devbox import nofollow
from devbox.activation import covered, trust
from devbox.activation.entry import spec_path_here
from devbox.build import writable
from devbox.build.progress import Display, uninterrupted
from devbox.build.stack import build_box, register
from devbox.commands.generations import age, registered_stack
from devbox.errors import DevboxError, SpecError
from devbox.history.changes import choose
from devbox.history.records import Generation, current, generations
from devbox.plan import lockfile, resolve
from devbox.sandbox import host, sessions
from devbox.spec.load import parse_spec
from devbox.spec.model import SPEC_NAME, Spec
from devbox.store import layers as store
from devbox.store.paths import ProjectPaths, Store


def rollback(n: int | None, display: Display) -> list[str]:
    """Go back to generation `n` (None: the one before the current); what it did, in lines."""
    start = time.monotonic()
    path = spec_path_here()  # a symlinked devbox.toml is refused here
    project = path.parent
    st = Store.default()
    tier = host.current_tier()
    gens = generations(st, project)
    target = choose(gens, current(gens, registered_stack(st, project)), n)
    spec = _parse(target, path)
    old_spec = covered.read_spec(path)  # never through a symlink
    old_lock = covered.read_file(project / lockfile.LOCK_NAME)
    present = _layer_names(st)
    with _undo_on_failure(project, old_spec, old_lock, display):
        _put(project, SPEC_NAME, target.spec.encode())
        _put(project, lockfile.LOCK_NAME, target.lock.encode())
        writable.warn(spec, st, tier.key, display)
        with store.gc_lock(st, exclusive=False):  # gc takes nothing from under the registration
            stack = resolve.stack(spec, st, tier.key)
            rebuilt = stack is None
            if stack is not None:
                register(spec, st, stack, tier)
                store.mark_used(st, stack)
        if stack is None:
            display.info(f"devbox: layers of generation {target.n} are gone; building them")
            metas = build_box(spec, st, display)
            stack = [m.digest for m in metas]
    built = len(set(store.expand(st, stack)) - present)
    trusted = _trust(path, spec, target, st, stack if rebuilt else None)
    secs = time.monotonic() - start
    how = f"built {built} layer{'s' * (built != 1)}" if built else "no layer built"
    when = age(time.time() - target.time)
    lines = [
        f"{spec.name}: rolled back to generation {target.n} (built {when}): {SPEC_NAME} and "
        f"{lockfile.LOCK_NAME} written back, {how} ({secs:.1f}s)"
    ]
    lines += _box_note(st, project) + trusted
    return lines


def _parse(target: Generation, path: Path) -> Spec:
    try:
        return parse_spec(target.spec, path)
    except SpecError as e:
        raise DevboxError(
            f"generation {target.n}'s {SPEC_NAME} is not valid for this devbox: {e.message}",
            hint="nothing was changed; `devbox history` lists the other generations",
        ) from None


def _layer_names(st: Store) -> set[str]:
    try:
        return set(os.listdir(st.layers))
    except OSError:
        return set()


def _put(project: Path, name: str, data: bytes | None) -> None:
    """Make the project's `name` hold `data` (None: be gone), never through a symlink."""
    if data is None:
        fd = nofollow.open_root(project)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=fd)
        finally:
            os.close(fd)
        return
    nofollow.write_replace(project, name, data, 0o644)


@contextlib.contextmanager
def _undo_on_failure(
    project: Path, spec: bytes, lock: bytes | None, display: Display
) -> Iterator[None]:
    """Put devbox.toml and devbox.lock back as they were if what follows fails (Ctrl-C too)."""
    try:
        yield
    except BaseException:
        with uninterrupted(display):
            _put(project, SPEC_NAME, spec)
            _put(project, lockfile.LOCK_NAME, lock)
        raise


def _trust(
    path: Path, spec: Spec, target: Generation, st: Store, built: list[str] | None
) -> list[str]:
    """Trust after the rollback (see the module's doc); a line when the hook will ask again.
    `built`: the stack a build made (it may have rewritten the lock), else None."""
    if trust.restore(path, target.spec_sha256, target.lock_sha256):
        if built is not None:  # a lock devbox rewrote in an allowed project: the record follows
            metas = [store.read_meta(st, d) for d in built]
            trust.follow_lock(spec, target.spec.encode(), target.lock_sha256, lambda: metas)
        return []
    if trust.verdict(path, target.spec.encode()).state == trust.NOT_ALLOWED:
        return []
    return [
        f"this {SPEC_NAME} is not one you allowed: the shell hook and shims wait for "
        "`devbox allow` (read it first)"
    ]


def _box_note(st: Store, project: Path) -> list[str]:
    """A running box keeps its layers while sessions are in it; an idle one is stopped now, so
    the next session starts on the generation's."""
    paths = ProjectPaths(st.project_dir(project))
    if sessions.supervisor_pid(paths) is None or sessions.stop(paths):
        return []
    return ["the box is in use: sessions in it now keep the layers they have until they exit"]
