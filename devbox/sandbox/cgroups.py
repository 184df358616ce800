"""The host's cgroups as [limits] uses them: which hierarchy holds each controller (memory, pids,
cpu), which of them this user may write (cgroup v1: root; cgroup v2: root, or a subtree the
host delegated to the user), the box's own cgroup there, and the files that set its limits.

A box's cgroup is `devbox/KEY` below the caller's own cgroup in a v1 hierarchy (so it stays
inside whatever limits the caller is under), below the root of the unified (v2) hierarchy for
root, and below the topmost cgroup delegated to the user (owned by them: systemd's
user@UID.service) for a user. Every process of the box (its supervisor, each session) is
moved in by writing its pid to `cgroup.procs`, a shell builtin in the launcher."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD = 100000  # microseconds; the quota is cpus times this
_IN_BOX = re.compile(r"(.*)/devbox/[^/]+$")  # a process already moved into a box's cgroup


@dataclass(frozen=True)
class Hierarchy:
    version: int  # 1 or 2
    mount: str  # where it is mounted
    own: str  # this process's cgroup in it, relative to the mount ("" is its root)
    controllers: frozenset[str]  # v1: those bound to it (of CONTROLLERS); v2: read at need


@dataclass(frozen=True)
class Place:
    """The box's cgroup in one hierarchy and the limits devbox sets there."""

    version: int
    base: str  # the existing cgroup devbox makes `devbox/KEY` under
    path: str  # base/devbox/KEY
    controllers: tuple[str, ...]  # what it limits there
    settings: tuple[tuple[str, str], ...]  # (file name, value), written in order


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def hierarchies(mountinfo: str, proc_cgroup: str) -> list[Hierarchy]:
    """The cgroup hierarchies mounted here (/proc/self/mountinfo) and this process's cgroup in
    each (/proc/self/cgroup); one whose mount does not show this process's cgroup is left out."""
    own_v1: list[tuple[frozenset[str], str]] = []
    own_v2: str | None = None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            own_v2 = parts[2]
        else:
            own_v1.append((frozenset(parts[1].split(",")), parts[2]))
    out: list[Hierarchy] = []
    seen: set[str] = set()
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, mount, fstype, options = fields[3], _unescape(fields[4]), tail[0], tail[2]
        if fstype == "cgroup2" and own_v2 is not None and "cgroup2" not in seen:
            own = _relative(own_v2, root)
            if own is not None:
                seen.add("cgroup2")
                out.append(Hierarchy(2, mount, own, frozenset()))
        elif fstype == "cgroup":
            names = frozenset(options.split(","))
            bound = names & set(CONTROLLERS)
            mine = [path for ctrls, path in own_v1 if ctrls and ctrls <= names]
            if bound and mine and not bound & seen:
                own = _relative(mine[0], root)
                if own is not None:
                    seen.update(bound)
                    out.append(Hierarchy(1, mount, own, bound))
    return out


def _relative(own: str, root: str) -> str | None:
    """`own` (a cgroup path) below the mount's root, "" for the root itself; None outside it."""
    root = root.rstrip("/")
    if own != root and not own.startswith(root + "/"):
        return None
    return own[len(root) :].rstrip("/")


def host_hierarchies() -> list[Hierarchy]:
    try:
        with open("/proc/self/mountinfo") as f, open("/proc/self/cgroup") as g:
            return hierarchies(f.read(), g.read())
    except OSError:
        return []


def outside_box(own: str) -> str:
    """The caller's cgroup, or the one it was in before it joined a box's."""
    m = _IN_BOX.fullmatch(own)
    return m.group(1) if m else own


def delegated(h: Hierarchy, uid: int) -> str | None:
    """The topmost cgroup above (or at) the caller's in the unified hierarchy that `uid` owns
    and may write: what the host delegated to the user (None: nothing)."""
    found = None
    own = outside_box(h.own)
    parts = [p for p in own.split("/") if p]
    for i in range(len(parts), 0, -1):
        d = os.path.join(h.mount, *parts[:i])
        try:
            if os.stat(d).st_uid != uid:
                break
        except OSError:
            break
        files = ("cgroup.procs", "cgroup.subtree_control")
        if not all(os.access(os.path.join(d, f), os.W_OK) for f in files):
            break
        found = d
    return found


def available(directory: str) -> frozenset[str]:
    """The v2 controllers a cgroup can hand its children (its cgroup.controllers)."""
    try:
        with open(os.path.join(directory, "cgroup.controllers")) as f:
            return frozenset(f.read().split())
    except OSError:
        return frozenset()


def places(level: int, uid: int, key: str, wanted: Mapping[str, int | float]) -> list[Place]:
    """Where the box's cgroups go for the controllers of `wanted` (controller -> the limit) that
    this host lets this user set; the others are not in any place."""
    out: list[Place] = []
    left = [c for c in CONTROLLERS if c in wanted]
    found = host_hierarchies()
    for h in found:
        if h.version == 1 and level == 1:
            base = os.path.join(h.mount, outside_box(h.own).lstrip("/"))
            mine = [c for c in left if c in h.controllers]
            if mine and os.access(base, os.W_OK):
                out.append(_place(1, base, key, mine, wanted))
                left = [c for c in left if c not in mine]
    for h in found:
        if h.version != 2 or not left:
            continue
        top = h.mount if level == 1 else delegated(h, uid)
        if top is not None and os.access(top, os.W_OK):
            mine = [c for c in left if c in available(top)]
            if mine:
                out.append(_place(2, top, key, mine, wanted))
                left = [c for c in left if c not in mine]
    return out


def _place(
    version: int, base: str, key: str, mine: list[str], wanted: Mapping[str, int | float]
) -> Place:
    settings: list[tuple[str, str]] = []
    for c in mine:
        settings += settings_for(version, c, wanted[c])
    return Place(version, base, os.path.join(base, "devbox", key), tuple(mine), tuple(settings))


def settings_for(version: int, controller: str, value: int | float) -> list[tuple[str, str]]:
    """The files (and values) that set one limit. Memory counts swap too (the box cannot swap
    past its limit); cpus is a quota of CPU time per 100 ms."""
    if controller == "memory":
        n = str(int(value))
        if version == 1:
            return [("memory.limit_in_bytes", n), ("memory.memsw.limit_in_bytes", n)]
        return [("memory.max", n), ("memory.swap.max", "0")]
    if controller == "pids":
        return [("pids.max", str(int(value)))]
    quota = str(max(1000, round(float(value) * CPU_PERIOD)))
    if version == 1:
        return [("cpu.cfs_period_us", str(CPU_PERIOD)), ("cpu.cfs_quota_us", quota)]
    return [("cpu.max", f"{quota} {CPU_PERIOD}")]


def make(place: Place) -> None:
    """Create the box's cgroup (v2: with its controllers enabled on the way down) and set its
    limits. OSError when the host refuses."""
    levels = [place.base, os.path.dirname(place.path), place.path]
    for parent, child in zip(levels, levels[1:]):
        if place.version == 2:
            _enable(parent, place.controllers)
        if not os.path.isdir(child):
            os.mkdir(child, 0o755)
    for name, value in place.settings:
        _write(os.path.join(place.path, name), value)


def _enable(directory: str, controllers: Iterable[str]) -> None:
    path = os.path.join(directory, "cgroup.subtree_control")
    with open(path) as f:
        have = set(f.read().split())
    missing = [c for c in controllers if c not in have]
    if missing:
        _write(path, " ".join(f"+{c}" for c in missing))


def _write(path: str, value: str) -> None:
    if path.endswith(".memsw.limit_in_bytes") and not os.path.exists(path):
        return  # no swap accounting: nothing to add
    if path.endswith("memory.swap.max") and not os.path.exists(path):
        return
    try:
        _put(path, value)
    except OSError:
        if not path.endswith("memory.limit_in_bytes"):
            raise
        # v1 wants memory <= memory+swap at every step: raise the second before the first
        _put(path.replace("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"), value)
        _put(path, value)


def _put(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def count(path: str, key: str) -> int:
    """The value of `key` in a flat-keyed cgroup file (memory.oom_control, memory.events):
    0 when it cannot be read."""
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == key and value.strip().isdigit():
                    return int(value)
    except OSError:
        pass
    return 0


def join(directories: Iterable[str], pid: int) -> None:
    for d in directories:
        _put(os.path.join(d, "cgroup.procs"), str(pid))
