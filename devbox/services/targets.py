"""Services resolved against their boxes: which box each runs in (built here), its environment
with ${NAME} substituted, where it listens, and the plan its runner is given."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from devbox.build.progress import Display
from devbox.errors import DevboxError
from devbox.sandbox.box import Box
from devbox.sandbox.boxenv import expand
from devbox.services.runner import Plan
from devbox.spec.model import SPEC_NAME, Ready, Service, Spec
from devbox.store.paths import Store

DATA_DIR = ".devbox/data"


def wanted(spec: Spec, names: Sequence[str]) -> list[Service]:
    """`names` and everything they depend on, in dependency order (all when `names` is empty)."""
    if not spec.services:
        raise DevboxError(
            f"{spec.path} has no [services]",
            hint='add one, e.g. [services.cache] command = "redis-server --port 6379"; '
            "docs/services.md",
        )
    known = {s.name: s for s in spec.services}
    for n in names:
        if n not in known:
            raise DevboxError(
                f"no service named {n!r} in {spec.path}", hint="services: " + ", ".join(known)
            )
    if not names:
        return list(spec.services)
    need: set[str] = set()
    todo = list(names)
    while todo:
        n = todo.pop()
        if n not in need:
            need.add(n)
            todo += known[n].depends_on
    return [s for s in spec.services if s.name in need]


def dependents(spec: Spec, names: Iterable[str]) -> list[Service]:
    """`names` and every service that depends on them, directly or not, in dependency order."""
    out = set(names)
    grew = True
    while grew:
        grew = False
        for s in spec.services:
            if s.name not in out and out.intersection(s.depends_on):
                out.add(s.name)
                grew = True
    return [s for s in spec.services if s.name in out]


def box_spec(spec: Spec, service: Service) -> Spec:
    """The spec of the box `service` runs in: the project's, or `box`'s devbox.toml (read
    without following a link: the working tree is the box's to write)."""
    if service.box is None:
        return spec
    from devbox import nofollow
    from devbox.spec.load import parse_bytes

    path = spec.project / service.box / SPEC_NAME
    try:
        data = nofollow.read_beneath(spec.project, f"{service.box}/{SPEC_NAME}")
    except FileNotFoundError:
        raise DevboxError(
            f"services.{service.name}.box: no {SPEC_NAME} in {spec.project / service.box}",
            hint=f"write one there (`cd {service.box} && devbox init`), or remove `box`",
        ) from None
    except OSError as e:
        raise DevboxError(f"cannot read {path}: {e.strerror or e}") from None
    return parse_bytes(path, data)


@dataclass(frozen=True)
class Target:
    """A service with its box built and its values substituted."""

    service: Service
    box: Box
    env: dict[str, str]  # what the service adds to its box's env
    ready: Ready | None

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def port(self) -> int | None:
        return port_of(self.ready)

    def plan(self) -> Plan:
        s = self.service
        user = s.user if self.box.tier.level == 1 else None  # tiers 2, 3: sessions are you
        return Plan(s.name, str(self.box.spec.path), s.command, self.env, s.stop_signal,
                    s.stop_timeout, list(self.box.stack), user)  # fmt: skip

    def listens(self) -> str:
        port = self.port
        if port is not None:  # a box with a network of its own: its loopback, not the host's
            return f"127.0.0.1:{port}" + (" in the box" if self.box.spec.network != "host" else "")
        return f"unix:{self.ready.value}" if self.ready and self.ready.kind == "unix" else ""


def port_of(ready: Ready | None) -> int | None:
    if ready is None or ready.kind != "tcp" or not ready.value.isdigit():
        return None
    port = int(ready.value)
    return port if 0 < port < 65536 else None


def service_env(spec: Spec, service: Service, workdir: str) -> dict[str, str]:
    """DEVBOX_SERVICE, DEVBOX_DATA and the service's env, ${NAME} taken from the project's
    [env] and from these."""
    scope = project_env(spec)
    env = {
        "DEVBOX_SERVICE": service.name,
        "DEVBOX_DATA": f"{workdir.rstrip('/')}/{DATA_DIR}/{service.name}",
    }
    scope.update(env)
    for key, value in service.env:
        env[key] = scope[key] = expand(value, scope)
    return env


def resolve(
    spec: Spec,
    services: Sequence[Service],
    display: Display,
    stacks: dict[str, list[str]] | None = None,
) -> list[Target]:
    """Build each service's box (once per box) and substitute its values. With `stacks` (a
    report: nothing is built), each service's box is the stack it was started with."""
    from devbox.build.stack import ensure_built
    from devbox.sandbox.host import current_tier

    st, tier = Store.default(), current_tier()
    boxes: dict[str, Box] = {}
    out: list[Target] = []
    for s in services:
        key = s.box or ""
        if stacks is not None:
            box = Box(box_spec(spec, s), st, tuple(stacks.get(s.name, ())), tier)
        elif key not in boxes:
            bspec = box_spec(spec, s)
            stack = ensure_built(bspec, st, display, tier)
            box = boxes[key] = Box(bspec, st, tuple(stack), tier)
        else:
            box = boxes[key]
        env = service_env(spec, s, box.workdir)
        ready = (
            None
            if s.ready is None
            else Ready(s.ready.kind, expand(s.ready.value, {**project_env(spec), **env}))
        )
        if ready is not None and ready.kind == "tcp" and port_of(ready) is None:
            raise DevboxError(
                f"services.{s.name}.ready: {s.ready.value!r} is {ready.value!r}, not a port",  # type: ignore[union-attr]
                hint="set the variable it names in [env] or in the service's env",
            )
        out.append(Target(s, box, env, ready))
    return out


def project_env(spec: Spec) -> dict[str, str]:
    """The project's [env], each value's ${NAME} from the ones before: what a service's env
    and `ready` may name."""
    scope: dict[str, str] = {}
    for key, value in spec.env:
        scope[key] = expand(value, scope)
    return scope


def box_dir(target: Target) -> Path:
    return target.box.spec.project


def port_holder(port: int) -> str | None:
    """Who listens on 127.0.0.1:`port` (or on every address), or None if it is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return None
        except OSError:
            pass
    return _who_listens(port) or "another program (one devbox cannot see: another user's?)"


def _who_listens(port: int) -> str | None:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(cols[9])
    want = {f"socket:[{i}]" for i in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in want:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                    return f"{cmd or '?'} (pid {pid})"
    return None
