"""What gc keeps of a project's history: the layers of its newest generations, `--keep N` of
them counting the current one (N = 1: the current alone), and their records; older records go."""

from __future__ import annotations

import shutil
from collections.abc import Sequence

from devbox.history.records import Generation, current, drop, load
from devbox.store.paths import Store

DEFAULT_KEEP = 3


def kept(gens: Sequence[Generation], stack: Sequence[str], keep: int) -> list[Generation]:
    """The generations gc keeps (newest first): the current one (whose stack is `stack`), then
    the newest others until there are `keep`."""
    now = current(gens, stack)
    others = [g for g in gens if g is not now]
    chosen = ([now] if now else []) + others[: max(0, keep - 1)]
    return sorted(chosen, key=lambda g: g.n, reverse=True)


def kept_layers(st: Store, pid: str, stack: Sequence[str], keep: int, *, dry_run: bool) -> set[str]:
    """The layer keys of the generations of project `pid` that gc keeps; the others' records
    are dropped (unless `dry_run`)."""
    directory = st.history / pid
    gens = load(directory)
    chosen = kept(gens, stack, keep)
    if not dry_run:
        drop(directory, [g for g in gens if g not in chosen])
    return {key for g in chosen for key in g.stack}


def forget(st: Store, pid: str, *, dry_run: bool) -> None:
    """A project gc drops loses its history too."""
    if not dry_run:
        shutil.rmtree(st.history / pid, ignore_errors=True)
