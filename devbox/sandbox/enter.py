"""Entering a box: a session's environment, mounts and argv (plan_entry, which the launcher
writes down too), and the execve into nsenter + bwrap."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from devbox import errors
from devbox.plan.recipe import workdir_of
from devbox.sandbox import argv as sandbox
from devbox.sandbox import box as box_
from devbox.sandbox import boxenv, host, limits, network, seccomp, share, shellrc, start
from devbox.sandbox.box import Box, Reporter
from devbox.sandbox.host import UserNs
from devbox.spec.model import Spec

# Before a command that has a terminal on stdin (see terminal_signals): the signals the session's
# outer processes ignore, back to their defaults for the command.
SIGNALS_RESET = ("/usr/bin/env", "--default-signal=INT,QUIT")
OUTER_IGNORES = (signal.SIGINT, signal.SIGQUIT)


def terminal_signals(box: Box) -> bool:
    """Whether a command with a terminal on stdin gets the terminal's signals as on the host.

    bwrap's --new-session would leave it without the terminal: Ctrl-C went to the session's
    outer processes (nsenter's bwrap), which died, and took the command with them. Instead the
    session stays in the caller's process group (the shell's job), the outer processes ignore
    SIGINT and SIGQUIT, and the box's `env --default-signal` (coreutils 8.31, in every suite
    devbox builds) gives them back to the command: Ctrl-C and Ctrl-\\ reach the command alone,
    and Ctrl-Z stops the whole job for the caller's shell, as on the host. Only with the seccomp
    filter: without --new-session, refusing TIOCSTI is what keeps a box from typing into the
    host's terminal."""
    return seccomp.supported() and shellrc.box_has(box.roots(), SIGNALS_RESET[0]) is not None


def box_cwd(spec: Spec, host_cwd: str, image: dict[str, Any] | None = None) -> str:
    """The current directory inside the box: kept when it is inside the working tree."""
    workdir = workdir_of(spec, image)
    project = str(spec.project)
    real = os.path.realpath(host_cwd)
    for root in {project, os.path.realpath(project)}:
        if real == root or real.startswith(root.rstrip("/") + "/"):
            return workdir.rstrip("/") + real[len(root.rstrip("/")) :] or "/"
    return workdir


@dataclass(frozen=True)
class Entry:
    """How one session enters a running box: bwrap's part, the command's env, whether
    nsenter keeps our credentials (bwrap then nests a namespace to be us) and whether it joins
    the box's network namespace (a box whose network is not the host's)."""

    session: sandbox.Session
    env: dict[str, str]
    keep_credentials: bool
    net: bool = False

    def join(self, nsenter: str, pid: int | str, userns: UserNs | None) -> list[str]:
        """nsenter's argv to join the box's namespaces (then comes bwrap's)."""
        return sandbox.join_argv(
            nsenter, pid, userns, keep_credentials=self.keep_credentials, net=self.net
        )


def plan_entry(
    box: Box,
    argv: Sequence[str],
    *,
    cwd: str,
    root: bool,
    interactive: bool = False,
    shell: str | None = None,
    host_env: Mapping[str, str] | None = None,
    seccomp_fd: int | None = None,
) -> Entry:
    """Pure but for the user database and a look into the layers: what `enter` execs.
    `cwd` is the host's current directory; `shell` the $SHELL in the box (default: the
    user's login shell)."""
    spec, tier, p = box.spec, box.tier, box.paths
    user, host_home, login_shell = box_.user()
    workdir = box.workdir
    home = host_home
    if root and tier.level > 1:
        user, home = "root", "/root"
    env = boxenv.box_env(
        spec,
        os.environ if host_env is None else host_env,
        user=user,
        home=home,
        shell=shell or login_shell,
        workdir=workdir,
        image_env=box.image_env,
    )
    env.update(sandbox.host_ca_env(host.ca_bundle()))
    env.update(box_.git_env(box))
    shared = share.plan(box, env)  # [share]: nothing for a spec that shares nothing
    env.update(shared.env)
    drop_to = nested = None
    keep = False
    if tier.level == 2 and not root:
        if shellrc.box_has(box.roots(), "setpriv"):
            drop_to = (tier.uid, tier.gid)
        else:  # no setpriv in this box: join as ourselves, bwrap nests a namespace for us
            nested = (tier.uid, tier.gid)
            keep = True
    if tier.level == 3 and not root:
        nested = (tier.uid, tier.gid)
    session = sandbox.Session(
        root=str(p.merged),
        argv=tuple(argv),
        cwd=box_cwd(spec, cwd, box.image),
        binds=shared.binds,
        new_session=not interactive,
        caps=sandbox.root_caps(tier.level) if root else (),
        hostname=spec.name,
        drop_to=drop_to,
        nested_uid=nested,
        seccomp_fd=seccomp_fd,
        resolv_conf=network.resolv_conf(spec, p),
    )
    return Entry(session, env, keep, network.own(spec))


def enter(
    box: Box,
    argv: Sequence[str] | None,
    display: Reporter,
    *,
    cwd: str | None = None,
    root: bool = False,
) -> NoReturn:
    """Replace this process with `argv` (or an interactive shell) in the box. `root`: be root
    in the box (ad-hoc installs into the writable layer) instead of the invoking user."""
    p = box.paths
    box_.sync_rc(box)
    pid = start.ensure_running(box, display)
    interactive = argv is None
    extra_env: dict[str, str] = {}
    shell = None
    terminal = argv is not None and os.isatty(0) and terminal_signals(box)
    if argv is not None and terminal:
        argv, interactive = [*SIGNALS_RESET, *argv], True
    if argv is None:
        _, _, login_shell = box_.user()
        program = shellrc.choose_program(box.spec.shell.program, login_shell, box.roots())
        shellrc.write_rc(p.rc, box.spec.name)
        argv, extra_env = shellrc.shell_argv(program, box.spec.name)
        shell = program
    entry = plan_entry(
        box,
        argv,
        cwd=cwd or os.getcwd(),
        root=root,
        interactive=interactive,
        shell=shell,
        seccomp_fd=seccomp.memfd(fake_ids=box.tier.seccomp) if seccomp.supported() else None,
    )
    env = {**entry.env, **extra_env}
    join = entry.join(host.tool("nsenter"), pid, box.tier.userns)
    held = box_.held_limits(box)
    full = limits.wrap(held, join + sandbox.bwrap_argv(host.tool("bwrap"), entry.session))
    if display.verbose:
        display.info("devbox: " + json.dumps(full))
    if terminal or held.oom_file is not None:
        run_and_wait(full, env, held)
    os.execve(full[0], full, env)


def run_and_wait(argv: list[str], env: dict[str, str], held: limits.Enforcement) -> NoReturn:
    """Run a session and exit as it did, not as an exec: for a command with a terminal
    (terminal_signals), and to say when the box hit its memory limit meanwhile. The terminal's
    SIGINT and SIGQUIT are the session's (this process ignores them while it waits); a session
    that died of Ctrl-C (130) is seen so by the caller, killed by SIGINT: a shell running a
    script stops there, as the launcher does."""
    for sig in OUTER_IGNORES:
        signal.signal(sig, signal.SIG_IGN)
    sys.stdout.flush()
    sys.stderr.flush()
    before = limits.oom_count(held)
    _, status = os.waitpid(os.posix_spawn(argv[0], argv, env), 0)
    if limits.oom_count(held) != before:
        print(errors.terminal(limits.oom_message(held)), file=sys.stderr, flush=True)
    code = os.waitstatus_to_exitcode(status)
    code = code if code >= 0 else 128 - code
    if code == 130:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)
