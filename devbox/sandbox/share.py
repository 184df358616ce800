"""[share] in a session: what of the host's session a box gets, as bwrap binds and variables.

Decided at each entry from the user's environment (a new $DISPLAY or ssh agent is the next
session's), so it goes through plan_entry and lands in the launcher, which hands over when one of
the variables it was written for changes (`stale_tests`). Sockets are bound one by one, never
their directories, at fixed paths under HOST_DIR (so the box's variables do not depend on the
host's names), with bwrap's `-try` binds: a socket that went away is no bind, as on the host. A
spec that shares nothing gets nothing here, and its launcher no test.

X11: the display's socket (/tmp/.X11-unix/XN) and a copy of its cookie alone in devbox's rc dir
(xauth.py, written by box.sync_rc). Wayland: $WAYLAND_DISPLAY's socket. Audio: PipeWire's and
PulseAudio's sockets. The ssh agent: $SSH_AUTH_SOCK. The GPU: gpu.py. Binds: host directories the
spec names, resolved here and checked (never devbox's store or state, never the working tree,
which a box can change), bound by their real path; the launcher checks that the path still leads
there and that no part of it became a link."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from shlex import quote as q

from devbox.errors import DevboxError
from devbox.sandbox import box as box_
from devbox.sandbox import gpu, xauth
from devbox.sandbox.argv import RC_DIR, Bind
from devbox.sandbox.box import Box
from devbox.spec.model import Share, ShareBind, Spec
from devbox.store.paths import state_root

HOST_DIR = "/run/devbox-host"  # the host's sockets in a box
SSH_AGENT = f"{HOST_DIR}/ssh-agent"
WAYLAND = f"{HOST_DIR}/wayland-0"
PIPEWIRE = f"{HOST_DIR}/pipewire-0"  # PIPEWIRE_RUNTIME_DIR=HOST_DIR: its default name
PULSE = f"{HOST_DIR}/pulse-native"
# The user's variables each key's binds and env derive from (the launcher is stale when one
# changes; $HOME is checked for every launcher)
ENV_KEYS = {
    "display": ("DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "XAUTHORITY"),
    "audio": ("XDG_RUNTIME_DIR", "PIPEWIRE_RUNTIME_DIR", "PULSE_SERVER"),
    "ssh_agent": ("SSH_AUTH_SOCK",),
}


@dataclass(frozen=True)
class Shared:
    binds: tuple[Bind, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


def shares_any(s: Share) -> bool:
    """Whether a session gets anything of the host's beyond what it always has."""
    return s.display or s.audio or s.gpu or s.ssh_agent or bool(s.binds)


def plan(box: Box, box_env: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> Shared:
    """The binds and variables of [share] for a session entering now; a DevboxError for what
    cannot be shared (no GPU, a bind's host path missing or where a box could change it)."""
    s = box.spec.share
    if not shares_any(s):
        return Shared()
    binds: list[Bind] = []
    env: dict[str, str] = {}
    if s.display:
        _display(environ, binds, env)
    if s.audio:
        _audio(environ, binds, env)
    if s.ssh_agent and environ.get("SSH_AUTH_SOCK", "").startswith("/"):
        binds.append(Bind(environ["SSH_AUTH_SOCK"], SSH_AGENT, "rw-try"))
        env["SSH_AUTH_SOCK"] = SSH_AGENT
    for b in binds:
        _refuse_box_writable(b.src, box, "sockets")
    if s.gpu:
        found = gpu.probe()
        binds += found.binds()
        env.update(found.env({**box_env, **env}))
    binds += user_binds(box)
    return Shared(tuple(binds), tuple(env.items()))


def _display(environ: Mapping[str, str], binds: list[Bind], env: dict[str, str]) -> None:
    text = environ.get("DISPLAY", "")
    display = xauth.parse_display(text)
    if display is not None:
        if display.local:
            binds.append(Bind(display.socket, display.socket, "rw-try"))
        env["DISPLAY"] = display.in_box(text)
        env["XAUTHORITY"] = f"{RC_DIR}/{xauth.copy_name(display)}"
    wayland = _in_runtime_dir(environ.get("WAYLAND_DISPLAY", ""), environ)
    if wayland:
        binds.append(Bind(wayland, WAYLAND, "rw-try"))
        env["WAYLAND_DISPLAY"] = WAYLAND


def _audio(environ: Mapping[str, str], binds: list[Bind], env: dict[str, str]) -> None:
    pipewire = environ.get("PIPEWIRE_RUNTIME_DIR") or environ.get("XDG_RUNTIME_DIR", "")
    if pipewire.startswith("/"):
        binds.append(Bind(f"{pipewire.rstrip('/')}/pipewire-0", PIPEWIRE, "rw-try"))
        env["PIPEWIRE_RUNTIME_DIR"] = HOST_DIR
    server = environ.get("PULSE_SERVER", "")
    if server and not server.startswith("unix:/"):
        env["PULSE_SERVER"] = server  # over the network: the box's network decides
        return
    pulse = server[5:] if server else _in_runtime_dir("pulse/native", environ)
    if pulse:
        binds.append(Bind(pulse, PULSE, "rw-try"))
        env["PULSE_SERVER"] = f"unix:{PULSE}"


def _in_runtime_dir(name: str, environ: Mapping[str, str]) -> str:
    """A socket named relative to $XDG_RUNTIME_DIR (or absolute), or "" without one."""
    if name.startswith("/"):
        return name
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    return f"{runtime.rstrip('/')}/{name}" if name and runtime.startswith("/") else ""


# -- binds -----------------------------------------------------------------------------------


def host_path(bind: ShareBind, home: str) -> str:
    """A bind's host path with ~ as the user's home."""
    return home.rstrip("/") + bind.host[1:] if bind.host.startswith("~") else bind.host


def user_binds(box: Box) -> list[Bind]:
    """[share] binds, each by its host path's real path, after the checks (module doc)."""
    _, home, _ = box_.user()
    out: list[Bind] = []
    for b in box.spec.share.binds:
        written = host_path(b, home)
        real = os.path.realpath(written)
        if not os.path.exists(real):
            raise DevboxError(
                f"[share] binds: {b.host} does not exist on this host",
                hint=f"create it, or take the bind to {b.box} out of {box.spec.path}",
            )
        shown = b.host if real == written else f"{b.host} (that is {real})"
        _refuse_box_writable(real, box, "binds", state=True, shown=shown)
        for what, mount in (("your home", home), ("the working tree", box.workdir)):
            if b.box == mount or mount.startswith(b.box.rstrip("/") + "/"):
                message = f'[share] binds: box "{b.box}" would hide {what}, which is at {mount}'
                raise DevboxError(message, hint="bind it somewhere else in the box")
        out.append(Bind(real, b.box, b.mode))
    return out


def _refuse_box_writable(
    path: str, box: Box, what: str, *, state: bool = False, shown: str | None = None
) -> None:
    """A host path a box could replace (in the working tree, the store) is refused, and with
    `state` a directory that holds or is inside devbox's own (the store, its state: a box
    given them could rewrite layers other projects use, or its own trust)."""
    real = os.path.realpath(path)
    places = [("the project's working tree", str(box.spec.project), False),
              ("devbox's store", str(box.store.root), state)]  # fmt: skip
    if state:
        places.append(("devbox's state", str(state_root()), True))
    for name, top, holding_too in places:
        top = os.path.realpath(top)
        inside = real == top or real.startswith(top.rstrip("/") + "/")
        if inside or (holding_too and top.startswith(real.rstrip("/") + "/")):
            how = "is inside" if inside else "holds"
            raise DevboxError(
                f"[share] {what}: {shown or path} {how} {name} ({top})",
                hint="a box can change what is there, or reach what devbox trusts: "
                "share a directory of your own elsewhere",
            )


# -- the launcher and status -----------------------------------------------------------------


def env_keys(s: Share) -> list[str]:
    """The user's variables a session's share derives from, in a fixed order."""
    keys = [k for name, ks in ENV_KEYS.items() if getattr(s, name) for k in ks]
    return list(dict.fromkeys(keys))


def stale_tests(box: Box) -> list[str]:
    """The launcher's tests (any true: hand over) for what [share] derived from the user's
    session: its variables, and each bind's host path (it must still lead to the real path
    bound, through no new link)."""
    tests = [f'[ "${{{k}-}}" != {q(os.environ.get(k, ""))} ]' for k in env_keys(box.spec.share)]
    _, home, _ = box_.user()
    links: dict[str, None] = {}
    for b in box.spec.share.binds:
        written = host_path(b, home)
        real = os.path.realpath(written)
        parts = [p for p in real.split("/") if p]
        links.update(dict.fromkeys("/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)))
        tests.append(f"! [ {q(written)} -ef {q(real)} ]")
    return tests + [f"[ -h {q(path)} ]" for path in links]


def watched(spec: Spec, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Host files the launcher's argv derives from: the Xauthority file its cookie copy comes
    from, and what says which GPU and driver the host has."""
    out: list[str] = []
    if spec.share.display and xauth.parse_display(environ.get("DISPLAY", "")) is not None:
        out.append(xauth.authority_file(environ, box_.user()[1]))
    if spec.share.gpu:
        out += gpu.WATCHED
    return out


def in_force(spec: Spec, environ: Mapping[str, str] = os.environ) -> list[str]:
    """What a session entering now would get of the host's, one line each ([] for a spec that
    shares nothing: what devbox always did)."""
    s = spec.share
    out: list[str] = []
    if s.display:
        display = xauth.parse_display(environ.get("DISPLAY", ""))
        wayland = _in_runtime_dir(environ.get("WAYLAND_DISPLAY", ""), environ)
        seen = [f"X11 {environ['DISPLAY']}"] if display else []
        seen += [f"Wayland {wayland}"] if wayland else []
        out.append("display: " + (", ".join(seen) or "none in this session (no $DISPLAY)"))
    if s.audio:
        probe: dict[str, str] = {}
        _audio(environ, [], probe)
        names = [n for n, k in (("PipeWire", "PIPEWIRE_RUNTIME_DIR"), ("PulseAudio",
                 "PULSE_SERVER")) if k in probe]  # fmt: skip
        out.append("audio: " + (", ".join(names) or "none in this session"))
    if s.gpu:
        try:
            out.append("gpu: " + gpu.describe(gpu.probe()))
        except DevboxError:
            out.append("gpu: none on this host")
    if s.ssh_agent:
        sock = environ.get("SSH_AUTH_SOCK", "")
        out.append("ssh agent: " + (sock if sock.startswith("/") else "none in this session"))
    if not s.gitconfig:
        out.append("git config: not shared")
    out += [f"bind: {b.host} -> {b.box} ({b.mode})" for b in s.binds]
    return out
