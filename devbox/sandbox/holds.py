"""Shells that hold a box up, and why a box is up (`devbox status`).

A shell with a project active holds the project's holds FIFO (ProjectPaths.holds, beside the
sessions FIFO) open for reading and writing: bash and zsh on an fd of their own, fish through
one holder process per activation (shell-hooks/). The supervisor polls it while idle (a
non-blocking read: end of file means no writer) and does not linger out while anyone holds it.
A hold is not a session: `devbox build`, `stop`, `reset` and `gc` look at the sessions FIFO
only, so a held box is stopped or restarted as an idle one, and the new supervisor watches the
same FIFO, which the shells still hold.

The holds FIFO lives in the project's run dir, in devbox's store: the box never sees it (no bind
names it) and cannot write there, so a shell may open it by name. `DEVBOX_HOLD=0` in a shell's
environment: it neither holds nor starts its box (checked by the shell, shell-hooks/).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

from devbox.sandbox import sessions
from devbox.store.paths import ProjectPaths


@dataclass(frozen=True)
class Why:
    """Why the box is up: the holding shells' pids, the sessions inside (None when they could
    not be counted), and, when it is idle, the seconds it lingers for."""

    shells: tuple[int, ...]
    sessions: int | None
    inside: bool
    linger_left: int | None

    def describe(self) -> str:
        parts = []
        if self.shells:
            n, s = len(self.shells), "s" if len(self.shells) > 1 else ""
            parts.append(f"held by {n} shell{s} (pid{s} {', '.join(map(str, self.shells))})")
        if self.inside:
            count = self.sessions
            parts.append(
                "sessions inside" if not count else f"{count} session{'s' if count > 1 else ''}"
            )
        if parts:
            return "yes: " + ", ".join(parts)
        left = "" if self.linger_left is None else f"; it lingers for {self.linger_left} s more"
        return f"yes, idle{left} (it stops after a while without sessions, or on `devbox reset`)"

    def as_json(self) -> dict[str, object]:
        return {
            "held_by": list(self.shells),
            "sessions": self.sessions if self.inside else 0,
            "linger_left": self.linger_left,
        }


def why_up(paths: ProjectPaths, supervisor: int) -> Why:
    inside = sessions.inside(paths)
    holders = _holders(paths, supervisor)
    shells = tuple(
        sorted({_shell_of(pid) for pid in _topmost(holders.get("holds", {}), supervisor)})
    )
    found = len(_topmost(holders.get("sessions", {}), supervisor))
    left = None
    if not inside and not shells:
        left = _linger_left(paths, supervisor)
    return Why(shells, found or None, inside, left)


def _holders(paths: ProjectPaths, supervisor: int) -> dict[str, dict[int, int]]:
    """For each FIFO ("sessions", "holds"): {pid: parent pid} of every process that has it open
    and whose fds we may read (ours; the supervisor left out)."""
    wanted: dict[tuple[int, int], str] = {}
    for name, fifo in (("sessions", paths.sessions), ("holds", paths.holds)):
        with contextlib.suppress(OSError):
            st = os.stat(fifo)
            wanted[(st.st_dev, st.st_ino)] = name
    out: dict[str, dict[int, int]] = {}
    if not wanted:
        return out
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == supervisor:
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"/proc/{entry}/fd/{fd}")
            except OSError:
                continue
            found = wanted.get((st.st_dev, st.st_ino))
            if found is not None:
                out.setdefault(found, {})[int(entry)] = _ppid(int(entry))
    return out


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _topmost(procs: dict[int, int], supervisor: int) -> list[int]:
    """The holders none of whose ancestors holds it too (the rest inherited it, maybe through
    a process that closed its own copy, such as bwrap's), the supervisor's children (its naps)
    left out."""
    out = []
    for pid, parent in procs.items():
        seen = {pid}
        while parent > 1 and parent not in procs and parent not in seen and parent != supervisor:
            seen.add(parent)
            parent = _ppid(parent)
        if parent not in procs and parent != supervisor:
            out.append(pid)
    return out


def _shell_of(pid: int) -> int:
    """fish's holder process (`tail --pid=FISH ...`) stands for the fish shell it names."""
    words = sessions.cmdline(pid).split(b"\0")
    if words and os.path.basename(words[0]) == b"tail":
        for w in words:
            if w.startswith(b"--pid=") and w[6:].isdigit():
                return int(w[6:])
    return pid


def _linger_left(paths: ProjectPaths, supervisor: int) -> int | None:
    """Seconds until the idle box stops (within the supervisor's 5 s tick)."""
    linger = _linger_arg(sessions.cmdline(supervisor).split(b"\0"))
    try:
        since = os.stat(paths.idle).st_mtime
    except OSError:
        return None
    if linger is None:
        return None
    return max(0, round(linger - (time.time() - since)))


def _linger_arg(words: Iterable[bytes]) -> int | None:
    """The supervisor's linger: the 9th argument after its $0, "devbox-box"."""
    args = list(words)
    with contextlib.suppress(ValueError, IndexError):
        value = args[args.index(b"devbox-box") + 9]
        return int(value) if value.isdigit() else 0
    return None
