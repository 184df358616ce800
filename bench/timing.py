"""Timing helpers for the bench runner: medians of repeated runs of real commands."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class Skip(Exception):
    """A row that cannot run here; the message says why."""


@dataclass
class Row:
    section: str
    what: str
    command: str
    seconds: float | None = None  # the median
    runs: int = 0
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> None:
    r = subprocess.run(
        list(argv), cwd=cwd, env=None if env is None else dict(env), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout,
    )  # fmt: skip
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip().splitlines()
        raise Skip(f"`{' '.join(argv)[:80]}` failed ({r.returncode}): {err[-1] if err else ''}")


def median(
    fn: Callable[[], object],
    runs: int,
    *,
    warmup: int = 1,
    before: Callable[[], object] | None = None,
) -> float:
    """Median wall time of `fn` in seconds, after `warmup` unmeasured calls; `before` runs,
    untimed, before each call."""
    for _ in range(warmup):
        if before is not None:
            before()
        fn()
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def medians(
    fns: Mapping[str, Callable[[], object]], runs: int, *, warmup: int = 1
) -> dict[str, float]:
    """Median wall times of several functions, called in turn in each round, so that a slower
    or faster spell of the machine weighs on all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for key, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def timed(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> float:
    """Wall time of one run of a command that must succeed."""
    t = time.perf_counter()
    run(argv, cwd=cwd, env=env)
    return time.perf_counter() - t


def du_bytes(path: Path) -> int:
    """Disk usage of a tree, each inode counted once (as `du` does)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [*dirnames, *filenames]:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total
