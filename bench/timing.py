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


def median(fn: Callable[[], object], runs: int, *, warmup: int = 1) -> float:
    """Median wall time of `fn` in seconds, after `warmup` unmeasured calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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
