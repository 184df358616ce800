"""One service's process, as supervisord runs it: `python -m devbox.services.runner DIR NAME`.

It joins the service's box as a session (so the box stays up while the service runs), starts
the command there (nsenter + bwrap, as `devbox run` does, with no terminal), and stays its
parent: bwrap passes no signal on, so the runner forwards the service's stop signal to the
command (the child of the session's init, found from bwrap's --info-fd), waits `stop_timeout`,
then kills the session's pid namespace. It dies with supervisord (a parent-death signal), and
the session dies with it: a killed supervisord leaves no service behind.

The plan it runs (DIR/NAME.json) is written by `devbox up` in the project's state dir, the
host's own; the box's spec is read without following a link, as every verb reads it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1
# `user` as root (tier 1): the data dir becomes the user's, then the command runs as the user
# (setpriv resolves the names in the box; the capabilities go with the change of uid)
BECOME = (
    'g=$(id -gn -- "$1") && chown -h -- "$1:$g" "$DEVBOX_DATA" && '
    'exec setpriv --reuid="$1" --regid="$g" --init-groups -- /bin/sh -c "$2"'
)
BECOME_CAPS = ("CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


@dataclass(frozen=True)
class Plan:
    """What `up` asks the runner to run (JSON in the state dir)."""

    service: str
    spec: str  # the box's devbox.toml
    command: str
    env: dict[str, str]  # added to the box's env
    stop_signal: str
    stop_timeout: float
    stack: list[str]  # the box's layers when `up` wrote this (a rebuilt box: a new plan)
    user: str | None = None  # as root (tier 1): the box's user to become, after a chown of data

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        d: dict[str, Any] = json.loads(text)
        env = {str(k): str(v) for k, v in dict(d["env"]).items()}
        return cls(str(d["service"]), str(d["spec"]), str(d["command"]), env,
                   str(d["stop_signal"]), float(d["stop_timeout"]),
                   [str(x) for x in d.get("stack", [])],
                   str(d["user"]) if d.get("user") else None)  # fmt: skip


def die_with_parent(sig: int) -> None:
    """Get `sig` when the parent (supervisord) dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def session_argv(plan: Plan, info_fd: int) -> tuple[list[str], dict[str, str], list[int]]:
    """(argv, env, fds to pass) of the service's session; joins the box (its FIFO held)."""
    from devbox.build.progress import Display
    from devbox.nofollow import read_file
    from devbox.plan import resolve
    from devbox.sandbox import argv as sandbox
    from devbox.sandbox import box as box_
    from devbox.sandbox import host, limits, seccomp, start
    from devbox.sandbox.box import Box
    from devbox.sandbox.enter import plan_entry
    from devbox.spec.load import parse_bytes
    from devbox.store.paths import Store

    spec = parse_bytes(Path(plan.spec), read_file(plan.spec))
    st, tier = Store.default(), host.current_tier()
    # the layers `up` started it with (a restart keeps its box, as a container keeps its image)
    stack = plan.stack if all(st.layer_dir(d).is_dir() for d in plan.stack) else None
    stack = stack or resolve.stack(spec, st, tier.key)
    if not stack:
        raise SystemExit(f"devbox: the box {spec.name} is not built (run `devbox up` again)")
    box = Box(spec, st, tuple(stack), tier)
    box_.sync_rc(box)
    pid = start.ensure_running(box, Display(quiet=True))
    fd = seccomp.memfd(fake_ids=tier.seccomp) if seccomp.supported() else None
    argv = ["/bin/sh", "-c", plan.command]
    caps: tuple[str, ...] = ()
    if plan.user is not None and tier.level == 1:
        argv, caps = ["/bin/sh", "-c", BECOME, "sh", plan.user, plan.command], BECOME_CAPS
    entry = plan_entry(box, argv, cwd=str(spec.project), root=False, seccomp_fd=fd)
    session = sandbox.Session(**{**entry.session.__dict__, "info_fd": info_fd, "caps": caps})
    join = entry.join(host.tool("nsenter"), pid, tier.userns)
    full = limits.wrap(
        box_.held_limits(box), join + sandbox.bwrap_argv(host.tool("bwrap"), session)
    )
    fds = [info_fd] + ([fd] if fd is not None else [])
    return full, {**entry.env, **plan.env}, fds


def command_pid(init: int) -> int | None:
    """The session's command: the one child of its init (bwrap's pid 1)."""
    try:
        with open(f"/proc/{init}/task/{init}/children") as f:
            kids = f.read().split()
    except OSError:
        return None
    return int(kids[0]) if kids else None


def run(plan: Plan, pid_file: Path | None = None) -> int:
    """Run the plan's session; its exit status (0 when stopped by a signal we forwarded). A
    stop that comes while the session is being set up ends the runner before it starts."""
    stopping: list[float] = []
    child = init = 0  # not yet: a stop now just ends the runner
    stop_sig = signal.Signals[f"SIG{plan.stop_signal}"]

    def forward(signum: int, frame: object) -> None:
        if not stopping:
            stopping.append(time.monotonic())
        if not child:
            raise SystemExit(0)
        target = command_pid(init) if init else None
        with contextlib.suppress(OSError):
            if target is not None:
                os.kill(target, stop_sig)
            else:
                os.kill(child, signal.SIGKILL)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    r, w = os.pipe()
    argv, env, fds = session_argv(plan, w)
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)  # the fork and the child's pid together
    child = os.fork()
    if child == 0:  # the session: dies with us
        try:
            die_with_parent(signal.SIGKILL)
            for sig in FORWARDED:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
            os.close(r)
            for fd in fds:
                os.set_inheritable(fd, True)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    os.close(w)
    for fd in fds[1:]:
        os.close(fd)
    with os.fdopen(r) as info:
        text = info.read()  # until bwrap closes it: the sandbox is set up
    init = int(json.loads(text)["child-pid"]) if text.strip() else 0
    if init and pid_file is not None:
        for _ in range(100):  # the command is forked by the init at once
            target = command_pid(init)
            if target is not None:
                pid_file.write_text(f"{target}\n")
                break
            time.sleep(0.002)
    if stopping:  # asked to stop while the session was set up
        forward(signal.SIGTERM, None)

    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    status = wait(child, wake_r, stopping, plan.stop_timeout, init or None)
    code = os.waitstatus_to_exitcode(status)
    return 0 if stopping else (code if code >= 0 else 128 - code)


def wait(child: int, wake: int, stopping: list[float], timeout: float, init: int | None) -> int:
    """Wait for the session to end; once a stop began (`stopping`), at most `timeout`
    seconds before its pid namespace is killed. Its wait status."""
    pidfd = os.pidfd_open(child)
    while True:
        left = None if not stopping else max(0.0, stopping[0] + timeout - time.monotonic())
        ready, _, _ = select.select([pidfd, wake], [], [], left)
        if pidfd in ready:
            break
        with contextlib.suppress(OSError):
            os.read(wake, 512)
        if stopping and time.monotonic() - stopping[0] >= timeout:
            with contextlib.suppress(OSError):
                os.kill(init or child, signal.SIGKILL)  # the pid namespace goes with its init
            timeout += 3600.0  # once
    os.close(pidfd)
    return os.waitpid(child, 0)[1]


def main(args: list[str]) -> int:
    from devbox.errors import DevboxError

    if len(args) != 2:
        print("usage: python -m devbox.services.runner STATE_DIR NAME", file=sys.stderr)
        return 2
    die_with_parent(signal.SIGTERM)  # supervisord gone: stop the service as `down` would
    state, name = Path(args[0]), args[1]
    with open(state / f"{name}.starts", "ab") as f:
        f.write(b"\n")
    try:
        plan = Plan.from_json((state / f"{name}.json").read_text())
        sys.stdout.flush()
        return run(plan, state / f"{name}.pid")
    except DevboxError as e:
        print(e.render(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
