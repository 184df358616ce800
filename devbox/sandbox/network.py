"""A box's network ([box] network, docs/controls.md#network): the host's (the default, nothing
to do), "none" (a network namespace of the box's own with only loopback up) or "private" (the
same, with outbound access through slirp4netns, and [box] ports published on the host's loopback).

The namespace is box-wide state: the supervisor makes it (`unshare --net`) and every session
joins it (`nsenter --net`), so all sessions and services of a box share one loopback. For a
private network, network.sh.in runs before the supervisor and starts slirp4netns against it.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

from devbox import template
from devbox.errors import DevboxError, HostError
from devbox.sandbox import host
from devbox.spec.model import Spec
from devbox.store.paths import ProjectPaths

SLIRP = "slirp4netns"
SLIRP_FIX = "sudo apt-get install slirp4netns"
IP_FIX = "sudo apt-get install iproute2"
TUN = "/dev/net/tun"
TUN_FIX = (
    f"make it usable by users, as Debian's udev does: sudo chmod 0666 {TUN} "
    "(or, if it is missing, load the tun module: sudo modprobe tun)"
)
# slirp4netns's DNS forwarder (its default network, 10.0.2.0/24: the box is 10.0.2.100, the
# host 10.0.2.2, which leads to the host's loopback), which a private box's resolv.conf names
DNS = "10.0.2.3"
LOOPBACK = "127.0.0.1"
TEMPLATE = template.load(__file__, "network.sh.in").removeprefix("#!/bin/sh\n")
HOSTFWD = str(Path(__file__).with_name("hostfwd.py"))


def own(spec: Spec) -> bool:
    """Whether the box has a network namespace of its own (sessions join it)."""
    return spec.network != "host"


def net_id(spec: Spec) -> str:
    """What the supervisor is told, and records in run/network for whoever joins: "" (the
    host's network), "none", or "private" and each published port as ADDR:HOST:BOX."""
    if spec.network == "host":
        return ""
    return " ".join([spec.network, *(f"{LOOPBACK}:{h}:{b}" for h, b in spec.ports)])


def running(p: ProjectPaths) -> str:
    """The net_id of the running box (read only while its supervisor lives)."""
    try:
        return p.network.read_text().rstrip("\n")
    except OSError:
        return ""


def check_running(spec: Spec, p: ProjectPaths) -> None:
    """Refuse to join a running box (in use, so not restarted) whose network is not the one the
    spec asks for: a session must never get another network than the spec says."""
    have, want = running(p), net_id(spec)
    if have != want:
        raise DevboxError(
            f"the box {spec.name} is running with {describe_id(have)}, and devbox.toml now asks "
            f"for {describe_id(want)}",
            hint="exit the box's other sessions (and `devbox down` its services), then try again",
        )


def describe_id(nid: str) -> str:
    """A net_id in the words of devbox.toml."""
    words = nid.split()
    if not words:
        return "the host's network"
    ports = f", ports {', '.join(words[1:])}" if words[1:] else ""
    return f'network = "{words[0]}"{ports}'


def launcher_check(spec: Spec, p: ProjectPaths) -> str:
    """The launcher's line that hands over when the box it joined runs another network than
    this spec's (check_running says why), with builtins only; nothing for the host's network
    (a session on the host's network is no less than it asked for)."""
    if not own(spec):
        return ""
    rel = shlex.quote(str(p.network.relative_to(p.root)))
    want = shlex.quote(net_id(spec))
    read = f'l=; {{ IFS= read -r l < "$P"/{rel}; }} 2>/dev/null'
    return f'{read}; [ "$l" = {want} ] || handover "$@"\n'


def stack() -> str | None:
    """The user-mode stack a private network uses here (its path), or None."""
    return host.which(SLIRP)


def supervisor_argv(spec: Spec, p: ProjectPaths, argv: list[str]) -> list[str]:
    """The supervisor's argv for this spec's network: as it is, or run by network.sh.in (a
    private network). Refuses a network the host cannot give, with the package to install."""
    if spec.network == "none":
        if host.which("ip") is None:
            raise HostError(
                "`ip` is not installed; devbox needs it to bring up the loopback of a box with "
                'network = "none"',
                hint=IP_FIX,
            )
        return argv
    if spec.network != "private":
        return argv
    slirp = stack()
    if slirp is None:
        raise HostError(
            f'{SLIRP} is not installed; a box with network = "private" needs it',
            hint=f"install it: {SLIRP_FIX}   (or choose another [box] network)",
        )
    ports = " ".join(net_id(spec).split()[1:])
    head = ["/bin/sh", "-c", TEMPLATE, "devbox-net", str(p.run), slirp, python(), HOSTFWD, ports]
    return [*head, *argv]


def failure(log: str) -> DevboxError | None:
    """What stopped a box's private network from starting, in its supervisor's log, as what to
    change; None if it was something else."""
    if TUN in log:
        return HostError(f"{SLIRP} cannot open {TUN}, which a private network needs", hint=TUN_FIX)
    return None


def resolv_conf(spec: Spec, p: ProjectPaths) -> str:
    """The host file a session binds as its /etc/resolv.conf: the host's own, or for a private
    network devbox's, naming slirp4netns's DNS forwarder (written by the supervisor)."""
    return str(p.resolv_conf) if spec.network == "private" else "/etc/resolv.conf"


def in_force(spec: Spec) -> dict[str, Any]:
    """What `devbox status` shows: the network, the published ports, what carries it."""
    out: dict[str, Any] = {"network": spec.network}
    if spec.network == "private":
        out["ports"] = [{"host": f"{LOOPBACK}:{h}", "box": b} for h, b in spec.ports]
        out["stack"] = SLIRP if stack() is not None else None
    return out


def describe(spec: Spec) -> str:
    """One line for `devbox status`."""
    if spec.network == "host":
        return "the host's (shared)"
    if spec.network == "none":
        return "none (its own loopback only)"
    ports = ", ".join(f"{LOOPBACK}:{h} -> {b}" for h, b in spec.ports)
    via = SLIRP if stack() is not None else f"{SLIRP}, which is not installed"
    return f"private (outbound through {via})" + (f"; published: {ports}" if ports else "")


def doctor(tier: int) -> list[tuple[str, bool, str, str]]:
    """(name, ok, detail, fix) of each check `devbox doctor` makes for a box's own network: the
    user-mode stack of private networks and, rootless, the device it opens; `ip` for `none`.
    None of them is needed by a box on the host's network (the default)."""
    path = stack()
    if path is None:
        return [(SLIRP, False, 'not installed (only network = "private" needs it)', SLIRP_FIX)]
    out = [(SLIRP, True, f'{path} (for network = "private")', "")]
    if tier > 1 and not os.access(TUN, os.R_OK | os.W_OK):
        why = f"not usable by you, so {SLIRP} cannot give a box a private network"
        out.append((TUN, False, why, TUN_FIX))
    if host.which("ip") is None:
        out.append(("ip", False, 'not installed (network = "none" needs it)', IP_FIX))
    return out


def in_netns_argv(pid: int, userns: host.UserNs | None) -> list[str]:
    """nsenter's argv to run a host program in a running box's network namespace (and, rootless,
    its user namespace, as namespace root), for a readiness check of a service's port."""
    argv = [host.tool("nsenter"), f"--target={pid}"]
    if userns is not None:
        argv += list(userns.join_flags)
    return [*argv, "--net", "--"]


def python() -> str:
    """The Python that runs the port publisher (the standard library only): devbox's own."""
    return sys.executable or "/usr/bin/python3"
