"""Is a service ready? `tcp:PORT` is a connection to the host's loopback (a box on the host's
network), or to the box's own (a box with a network of its own: from its network namespace);
`unix:PATH` and a command are checked inside the service's box, where the path
means what the service meant (the host never looks at a path in a box)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from dataclasses import dataclass, field

from devbox.build.progress import Display
from devbox.sandbox import network
from devbox.sandbox.box import Box
from devbox.services.targets import Target

CHECK_TIMEOUT = 10.0
# tcp_in_box's check, run by the host's Python in the box's network namespace
TCP_CHECK = (
    "import socket,sys\n"
    "try: socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.5).close()\n"
    "except OSError: sys.exit(1)"
)


def tcp_open(port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout):
        return True
    return False


@dataclass
class Prober:
    """Readiness checks for one `up` or one report: joins each box once (a session held for
    this process's life), then runs each check as a short session there."""

    joined: dict[str, int] = field(default_factory=dict)  # box spec path -> supervisor pid

    def ready(self, t: Target) -> bool:
        r = t.ready
        if r is None:
            return True
        if r.kind == "tcp":
            port = t.port
            if port is None:
                return False
            return self.tcp_in_box(t, port) if network.own(t.box.spec) else tcp_open(port)
        check = f"test -S {_sh_quote(r.value)}" if r.kind == "unix" else r.value
        return self.run(t, check) == 0

    def tcp_in_box(self, t: Target, port: int) -> bool:
        """A connection to the port on the loopback of a box with a network of its own (`none`
        or `private`): from the host's Python, in the box's network namespace."""
        argv = [*network.in_netns_argv(self.join(t), t.box.tier.userns), network.python()]
        argv += ["-I", "-S", "-c", TCP_CHECK, str(port)]
        try:
            r = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, timeout=CHECK_TIMEOUT, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0

    def join(self, t: Target) -> int:
        """The pid of the box's supervisor, joined once (a session held for our life)."""
        from devbox.sandbox import start

        key = str(t.box.spec.path)
        if key not in self.joined:
            self.joined[key] = start.ensure_running(t.box, Display(quiet=True))
        return self.joined[key]

    def run(self, t: Target, command: str) -> int:
        from devbox.sandbox import argv as sandbox
        from devbox.sandbox import box as box_
        from devbox.sandbox import host, limits
        from devbox.sandbox.enter import plan_entry

        box: Box = t.box
        pid = self.join(t)
        entry = plan_entry(box, ["/bin/sh", "-c", command], cwd=str(box.spec.project), root=False)
        join = entry.join(host.tool("nsenter"), pid, box.tier.userns)
        argv = limits.wrap(
            box_.held_limits(box), join + sandbox.bwrap_argv(host.tool("bwrap"), entry.session)
        )
        env = {**entry.env, **t.env}
        try:
            r = subprocess.run(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, timeout=CHECK_TIMEOUT, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return 124
        return r.returncode


def _sh_quote(text: str) -> str:
    import shlex

    return shlex.quote(text) if not text.startswith("$") else f'"{text}"'


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
