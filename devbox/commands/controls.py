"""The controls of a box as `devbox status` shows them (docs/controls.md): what it can reach
(network), use (limits) and share with the host's session, and the desktop entries written for
its apps. Lines for people (`lines`) and the same facts as JSON (`as_json`)."""

from __future__ import annotations

from typing import Any

from devbox.errors import printable
from devbox.sandbox.host import Tier
from devbox.spec.model import Limits, Spec
from devbox.store.paths import Store


def size(n: int) -> str:
    """Bytes as the spec would write them, in binary units: 268435456 -> 256 MiB."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes" if n < 2**20 else f"{n / 2**20:.1f} MiB"


def network(spec: Spec) -> str:
    """The box's network and what carries it (sandbox/network.py)."""
    from devbox.sandbox.network import describe

    return printable(describe(spec))


def asked_limits(limits: Limits) -> list[str]:
    """The limits the spec asks for, in words ("memory 256 MiB", "cpus 1.5", "pids 64")."""
    out = []
    if limits.memory is not None:
        out.append(f"memory {size(limits.memory)}")
    if limits.cpus is not None:
        out.append(f"cpus {limits.cpus:g}")
    if limits.pids is not None:
        out.append(f"pids {limits.pids}")
    return out


def limits_in_force(spec: Spec, tier: Tier, st: Store | None = None) -> list[str]:
    """What is enforced for the box, and how ("memory 256 MiB (cgroup v1)"), as its entry
    would hold it (sandbox/limits.py); [] without limits."""
    from devbox.sandbox import limits as held
    from devbox.store.paths import project_id

    if not asked_limits(spec.limits):
        return []
    root = (st or Store.default()).root
    return held.in_force(spec.limits, tier, held.box_key(str(root), project_id(spec.project)))


def limits(spec: Spec, tier: Tier, st: Store | None = None) -> str:
    found = limits_in_force(spec, tier, st)
    if not found:
        return "none"
    return ", ".join(found) + ("" if spec.limits.strict else " (strict = false)")


def shared(spec: Spec) -> list[str]:
    """What of the host's session a session entering now gets, one item each (the git config
    copy, as always, first; then sandbox/share.py's words: "display: X11 :0", "bind: ...")."""
    from devbox.sandbox import share

    return (["git config"] if spec.share.gitconfig else []) + share.in_force(spec)


def share(spec: Spec) -> str:
    return printable("; ".join(shared(spec))) or "nothing of the host's session"


def desktop(spec: Spec) -> str:
    from devbox.activation.desktop import written

    entries = written(spec.project)
    if not entries:
        return "none (written for an allowed project whose box has one for an exposed command)"
    return printable(", ".join(f"{e.name} ({e.entry})" for e in entries))


def lines(spec: Spec, tier: Tier, st: Store | None = None) -> list[str]:
    """The status lines: network, limits, share, and desktop entries for a spec that exposes
    commands."""
    out = [
        f"network:  {network(spec)}",
        f"limits:   {limits(spec, tier, st)}",
        f"share:    {share(spec)}",
    ]
    if spec.shell.expose:
        out.append(f"desktop:  {desktop(spec)}")
    return out


def as_json(spec: Spec, tier: Tier, st: Store | None = None) -> dict[str, Any]:
    from dataclasses import asdict

    from devbox.activation.desktop import written
    from devbox.sandbox.network import in_force

    lim, sh = spec.limits, spec.share
    return {
        "network": {
            "mode": spec.network,
            "ports": [{"host": h, "box": b} for h, b in spec.ports],
            "stack": in_force(spec).get("stack"),  # what carries a private one, if installed
            "in_force": network(spec),
        },
        "limits": {
            "memory_bytes": lim.memory,
            "cpus": lim.cpus,
            "pids": lim.pids,
            "strict": lim.strict,
            "in_force": limits_in_force(spec, tier, st),
        },
        "share": {
            "display": sh.display,
            "audio": sh.audio,
            "gpu": sh.gpu,
            "ssh_agent": sh.ssh_agent,
            "gitconfig": sh.gitconfig,
            "binds": [asdict(b) for b in sh.binds],
            "in_force": shared(spec),
        },
        "desktop_entries": [asdict(e) for e in written(spec.project)],
    }
