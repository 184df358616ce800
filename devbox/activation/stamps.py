"""Stamp files: what the shell hook compares with builtins instead of starting devbox.

bash has no builtin `stat`, so devbox leaves a file whose mtime mirrors a watched file's, named by
(file, mtime) so it is immutable and shared by every shell; `[[ f -nt stamp || f -ot stamp ]]`
(nanoseconds in bash 5 and zsh) says whether `f` changed. fish has `path mtime` (whole seconds)
and compares the number itself. A stamp is made before the file is read; one whose file changed
too recently to be sure a later edit would move its mtime is "racy" and makes the next look fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from devbox.store import private
from devbox.store.paths import state_root

# A file's mtime comes from a clock that may lag the real one by a tick: a stamp is trusted only
# when the file is older than the moment it was read by at least this much.
RACY_NS = 50_000_000
ABSENT = "absent"  # the name of a stamp that never exists: the watched file was missing


def stamp(path: Path | str, tag: str, now_ns: int) -> Path:
    """A file whose mtime mirrors `path`'s, named by that mtime so shells can share it. If
    `path` changed too recently to be sure a later edit would move its mtime, the stamp is set
    a second older, so the next prompt looks again."""
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return state_root() / "hook" / ABSENT
    return stamp_of(os.path.realpath(path), mtime, tag, now_ns)


def stamp_of(name: str, mtime: int | None, tag: str, now_ns: int) -> Path:
    """The stamp of the file called `name` (its path: the stamp's name derives from it) whose
    mtime is `mtime` (None: missing), as `stamp` makes it, the file not looked at again."""
    hooks = state_root() / "hook"
    if mtime is None:
        return hooks / ABSENT
    racy = now_ns < mtime + RACY_NS
    key = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()
    prefix = f"{tag}-{key[:16]}-"
    made = hooks / f"{prefix}{mtime}{'-racy' if racy else ''}"
    if not made.exists():
        private.mkdirs(hooks)
        made.touch()
        when = mtime - 10**9 if racy else mtime
        os.utime(made, ns=(when, when))
        for old in hooks.glob(f"{prefix}*"):  # shells holding these look again: harmless
            if old != made:
                with contextlib.suppress(OSError):
                    old.unlink()
    return made


def seconds(path: Path | str, now_ns: int) -> str:
    """fish's `path mtime` has whole seconds: the value to compare, "racy" to look again next
    time, or "" when `path` is missing (what `path mtime` prints then)."""
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return ""
    return seconds_of(mtime, now_ns)


def seconds_of(mtime: int | None, now_ns: int) -> str:
    """`seconds` of a file whose mtime is `mtime` (None: missing)."""
    if mtime is None:
        return ""
    whole = mtime // 10**9
    return "racy" if now_ns < (whole + 1) * 10**9 + RACY_NS else str(whole)
