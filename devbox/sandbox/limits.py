"""[limits] enforced per box: which mechanism holds each limit here, in this tier (cgroups.py,
else rlimits), the box's cgroups made and joined, the rlimits on each session, and what
`devbox status` and `devbox doctor` say is in force.

Every session and service of a box counts together in its cgroups (the supervisor is in them
too). Without a cgroup this user may write, memory falls back to RLIMIT_AS (per process: its
address space) and pids to RLIMIT_NPROC (per user: every process of the user counts, in and
out of the box; root is exempt from it), and cpus has no fallback. A limit that cannot be
enforced is an error naming it, unless `strict = false` (then one warning line)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from shlex import quote as q
from typing import Protocol

from devbox.errors import DevboxError
from devbox.sandbox import cgroups, host
from devbox.spec.model import Limits
from devbox.template import Code


class Reporter(Protocol):  # box.Reporter (box.py asks this module for the stack ids)
    def info(self, text: str) -> None: ...


OOM_KEY = "oom_kill"  # in v1's memory.oom_control and v2's memory.events
JOIN_SCRIPT = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


@dataclass(frozen=True)
class Enforcement:
    """How one box's limits are held here (empty: no limits)."""

    limits: Limits = field(default_factory=Limits)
    places: tuple[cgroups.Place, ...] = ()
    rlimits: tuple[tuple[str, int], ...] = ()  # prlimit(1) resources: ("as", bytes), ("nproc", n)
    missing: tuple[tuple[str, str], ...] = ()  # (the limit as written, why it cannot be held)
    lines: tuple[str, ...] = ()  # what is in force, for status and doctor

    @property
    def procs(self) -> tuple[str, ...]:
        """The cgroup.procs file of each of the box's cgroups: a pid written there joins it."""
        return tuple(f"{p.path}/cgroup.procs" for p in self.places)

    @property
    def oom_file(self) -> str | None:
        """Where the kernel counts the processes it killed for the box's memory limit."""
        for p in self.places:
            if "memory" in p.controllers:
                name = "memory.oom_control" if p.version == 1 else "memory.events"
                return f"{p.path}/{name}"
        return None


NONE = Enforcement()


def mib(n: int) -> str:
    if n % 2**30 == 0:
        return f"{n // 2**30} GiB"
    return f"{n / 2**20:g} MiB"


def written(limits: Limits, name: str) -> str:
    """A limit as the user reads it: "memory 256 MiB", "cpus 1.5", "pids 64"."""
    if name == "memory" and limits.memory is not None:
        return f"memory {mib(limits.memory)}"
    return f"{name} {limits.cpus:g}" if name == "cpus" else f"{name} {limits.pids}"


def box_key(store_root: str, project_id: str) -> str:
    """The box's cgroup name: its project in its store (two stores, two boxes)."""
    text = f"{store_root}\0{project_id}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def plan(limits: Limits, tier: host.Tier, key: str) -> Enforcement:
    """Which mechanism holds each limit for this user on this host (reads /proc and /sys)."""
    if limits == Limits(memory=None, cpus=None, pids=None, strict=limits.strict):
        return Enforcement(limits)
    wanted: dict[str, int | float] = {}
    for controller, value in (("memory", limits.memory), ("pids", limits.pids),
                              ("cpu", limits.cpus)):  # fmt: skip
        if value is not None:
            wanted[controller] = value
    places = tuple(cgroups.places(tier.level, tier.uid, key, wanted))
    by = {c: f"cgroup v{p.version}" for p in places for c in p.controllers}
    lines: list[str] = []
    rlimits: list[tuple[str, int]] = []
    missing: list[tuple[str, str]] = []
    for controller, name in (("memory", "memory"), ("pids", "pids"), ("cpu", "cpus")):
        if controller not in wanted:
            continue
        what = written(limits, name)
        if controller in by:
            lines.append(f"{what} ({by[controller]})")
        elif controller == "memory" and limits.memory is not None:
            rlimits.append(("as", limits.memory))
            lines.append(f"{what} (rlimit, per process: address space)")
        elif controller == "pids" and limits.pids is not None and tier.level > 1:
            rlimits.append(("nproc", limits.pids))
            lines.append(f"{what} (rlimit, per user)")
        else:
            why = _why(controller, tier)
            missing.append((what, why))
            lines.append(f"{what}: not enforced ({why})")
    return Enforcement(limits, places, tuple(rlimits), tuple(missing), tuple(lines))


def _why(controller: str, tier: host.Tier) -> str:
    if tier.level == 1:
        return f"no writable cgroup with the {controller} controller"
    if controller == "pids":  # tier 1 only: root is exempt from RLIMIT_NPROC
        return "root is exempt from RLIMIT_NPROC"
    return f"no cgroup with the {controller} controller delegated to {tier.user}, and no rlimit"


def in_force(limits: Limits, tier: host.Tier, key: str = "probe") -> list[str]:
    """What is enforced and how ("memory 256 MiB (cgroup v1)", "pids 64 (rlimit, per
    user)"); empty without limits."""
    return list(plan(limits, tier, key).lines)


def identity(e: Enforcement) -> str:
    """For the box's stack ids: a box started with other limits is restarted, not joined."""
    return repr((e.limits, e.lines)) if e.lines else ""


def check(e: Enforcement, display: Reporter | None) -> None:
    """A limit that cannot be enforced: the error, or with `strict = false` one warning."""
    if not e.missing:
        return
    names = ", ".join(what for what, _ in e.missing)
    why = "; ".join(f"{what}: {reason}" for what, reason in e.missing)
    if e.limits.strict:
        raise DevboxError(
            f"[limits] cannot be enforced here: {why}",
            hint="run devbox as root, or have the host delegate cgroup v2 to you (systemd's "
            "user@.service with Delegate=yes), or set [limits] strict = false to run without "
            f"{names}",
        )
    if display is not None:
        display.info(f"devbox: warning: [limits] {names} not enforced here ({why})")


def prepare(e: Enforcement, display: Reporter | None) -> Enforcement:
    """Check the box's limits and make its cgroups, set to them (before its supervisor starts,
    and on every entry from Python: a changed spec takes effect at once)."""
    check(e, display)
    for place in e.places:
        try:
            cgroups.make(place)
        except OSError as exc:
            raise DevboxError(
                f"cannot set the box's limits in {place.path}: {exc.strerror or exc}",
                hint="set [limits] strict = false to run without them, or see `devbox doctor`",
            ) from None
    return e


def forget(tier: host.Tier, key: str) -> bool:
    """Remove the box's (empty) cgroups, wherever they were made: when its project is dropped.
    False if one is still there (a process still in it)."""
    wanted = {"memory": 2**30, "pids": 512, "cpu": 1.0}
    gone = True
    for place in cgroups.places(tier.level, tier.uid, key, wanted):
        try:
            os.rmdir(place.path)
        except FileNotFoundError:
            pass
        except OSError:
            gone = False
    return gone


def wrap(e: Enforcement, argv: Sequence[str], *, rlimits: bool = True) -> list[str]:
    """`argv` run in the box's cgroups (a small sh writes its pid, then execs) and under its
    rlimits (prlimit); `argv` itself without limits."""
    out = list(argv)
    if rlimits and e.rlimits:
        out = [host.tool("prlimit"), *prlimit_options(e), "--", *out]
    if e.procs:
        out = ["/bin/sh", "-c", JOIN_SCRIPT, "devbox-limits", *e.procs, "--", *out]
    return out


def prlimit_options(e: Enforcement) -> list[str]:
    return [f"--{name}={value}:{value}" for name, value in e.rlimits]


def oom_count(e: Enforcement) -> int | None:
    f = e.oom_file
    return None if f is None else cgroups.count(f, OOM_KEY)


def oom_message(e: Enforcement) -> str:
    memory = mib(e.limits.memory) if e.limits.memory is not None else "?"
    return (
        f"devbox: the box hit its memory limit ({memory}): the kernel killed a process in it "
        "(raise [limits] memory in devbox.toml)"
    )


# -- the launcher's part (all builtins: no process) ----------------------------------------------


def launcher_values(e: Enforcement) -> dict[str, Code]:
    """The launcher's [limits] placeholders (launcher.sh.in): all empty without limits. A limit
    that cannot be enforced with strict is the error here too: no launcher runs the box."""
    check(e, None)
    before, after = launcher_watch(e)
    return {
        "LIMITS_JOIN": Code(launcher_join(e)),
        "LIMITS_WATCH": Code(before),
        "LIMITS_EXEC": Code(launcher_exec(e)),
        "LIMITS_REPORT": Code(after),
    }


def launcher_join(e: Enforcement) -> str:
    """Before the launcher joins or starts the box: into its cgroups (a missing one, after a
    reboot, hands over to Python, which makes it)."""
    if not e.procs:
        return ""
    writes = " && ".join(f"echo $$ > {q(f)}" for f in e.procs)
    return f'{{ {writes}; }} 2>/dev/null || handover "$@"\n'


def launcher_exec(e: Enforcement) -> str:
    """Words before the session's nsenter: its rlimits."""
    if not e.rlimits:
        return ""
    return " ".join([q(host.tool("prlimit")), *prlimit_options(e), "--"]) + " "


def launcher_watch(e: Enforcement) -> tuple[str, str]:
    """(before, after) the session: the kernel's OOM count, read twice, and the report; the
    session is then not exec'd (the launcher waits for it)."""
    f = e.oom_file
    if f is None:
        return "", ""
    read = f'oom() {{ k=0; while read -r a b; do [ "$a" != {OOM_KEY} ] || k=$b; done < {q(f)}; }}'
    before = f"{read} 2>/dev/null\noom; k0=$k x=\n"
    after = f'oom; [ "$k" = "$k0" ] || echo {q(oom_message(e))} >&2; '
    return before, after
