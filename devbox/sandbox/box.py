"""A running box: one overlay mount per project, held by a supervisor; sessions join it.

The first session starts the supervisor (see supervisor.py), which mounts the overlay in a mount
namespace of its own and stays while sessions are inside (sessions.py counts them), then lingers
a while. Every session, first or not, enters that mount namespace with nsenter and builds its
own bwrap sandbox there on the one merged root: two sessions never mount the writable layer
twice.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from devbox.build.progress import Display
from devbox.errors import DevboxError
from devbox.plan.recipe import workdir_of
from devbox.sandbox import argv as sandbox
from devbox.sandbox import boxenv, host, seccomp, sessions, shellrc, supervisor
from devbox.sandbox.host import Tier
from devbox.spec.model import Spec
from devbox.store import layers as store
from devbox.store.paths import ProjectPaths, Store

STACK_FILE = "upper.stack"
STACK_IDS = "stack.ids"  # in the run dir: stack_ids() of what the running box has mounted


@dataclass(frozen=True)
class Box:
    spec: Spec
    store: Store
    stack: tuple[str, ...]  # layer digests, bottom first
    tier: Tier = field(default_factory=lambda: Tier(1, 0, 0, "root"))

    @property
    def paths(self) -> ProjectPaths:
        return ProjectPaths(self.store.project_dir(self.spec.project))

    def roots(self) -> list[Path]:
        """The layer roots, top first, the writable layer included."""
        return [self.paths.upper] + [self.store.layer_rootfs(d) for d in reversed(self.stack)]


def _prepare(box: Box, display: Display) -> None:
    """Make the project's dirs; drop a writable layer made against another stack."""
    p = box.paths
    for d in (p.upper, p.work, p.merged, p.home, p.rc, p.run):
        d.mkdir(parents=True, exist_ok=True)
    stack_file = p.root / STACK_FILE
    want = "\n".join(box.stack)
    try:
        have = stack_file.read_text()
    except OSError:
        have = None
    if have is not None and have != want and any(p.upper.iterdir()):
        display.info(
            "devbox: the box was rebuilt; its writable layer (changes outside the working tree) "
            "was reset"
        )
        _wipe_upper(box)
    if have != want:
        stack_file.write_text(want)
    if not any(p.home.iterdir()):
        _seed_home(box)


def _wipe_upper(box: Box) -> None:
    p = box.paths
    for d in (p.upper, p.work):
        host.remover(box.tier)(d)
        d.mkdir(parents=True)


def _seed_home(box: Box) -> None:
    """A new isolated home starts as the box's /etc/skel."""
    for root in box.roots():
        skel = root / "etc/skel"
        if skel.is_dir():
            subprocess.run(["cp", "-a", f"{skel}/.", str(box.paths.home)], check=False)
            return


def stack_ids(box: Box) -> str:
    """A digest of what the running box was mounted from: the layer directories (digest and
    inode of each: a layer built again under the same digest is a new directory) and the shared
    binds (a new [shell].home, workdir or CA bundle needs a new mount)."""
    ids = [repr([(b.src, b.dest, b.mode) for b in box_binds(box)])]
    for d in box.stack:
        try:
            st = os.stat(box.store.layer_dir(d))
            ids.append(f"{d} {st.st_dev}:{st.st_ino}")
        except OSError:
            ids.append(f"{d} missing")
    return hashlib.sha256("\n".join(ids).encode("utf-8", "surrogateescape")).hexdigest()


def _running_ids(p: ProjectPaths) -> str:
    try:
        return (p.run / STACK_IDS).read_text().strip()
    except OSError:
        return ""


def supervisor_command(box: Box) -> list[str]:
    """The argv of the box's supervisor (see supervisor.SUPERVISOR_SCRIPT)."""
    p = box.paths
    tier = box.tier
    passwd = group = ""
    if tier.level > 1:  # the user must exist in the box under their own name
        _, home, login = _user()
        shell = shellrc.box_has(box.roots(), os.path.basename(login)) or "/bin/sh"
        passwd = f"{tier.user}:x:{tier.uid}:{tier.gid}::{home}:{shell}"
        try:
            gname = grp.getgrgid(tier.gid).gr_name
        except KeyError:
            gname = tier.user
        group = f"{gname}:x:{tier.gid}:"
    return supervisor.supervisor_argv(
        host.tool("unshare"),
        tier.userns,
        str(box.store.root),
        box_fstab(box),
        str(p.merged),
        str(p.supervisor_pid),
        str(p.sessions),
        str(p.start_lock),
        sessions.linger(),
        passwd,
        group,
    )


def box_fstab(box: Box) -> str:
    """What the supervisor mounts: the overlay of the layers and the writable layer, /tmp, /run
    and the binds every session shares."""
    p = box.paths

    def rel(q: Path) -> str:
        return str(q.relative_to(box.store.root))

    lowers = [rel(box.store.layer_rootfs(d)) for d in reversed(box.stack)]
    opts = sandbox.overlay_options(lowers, rel(p.upper), rel(p.work), userxattr=box.tier.level > 1)
    return supervisor.box_fstab(opts, str(p.merged), box_binds(box))


SUPERVISOR_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


def _start_supervisor(box: Box) -> int:
    p = box.paths
    argv = supervisor_command(box)
    p.supervisor_pid.unlink(missing_ok=True)
    (p.run / STACK_IDS).write_text(stack_ids(box) + "\n")
    with open(p.supervisor_log, "wb") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=SUPERVISOR_ENV,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pid = sessions.supervisor_pid(p)
        if pid is not None:
            return pid
        if proc.poll() is not None:
            break
        time.sleep(0.002)
    host.end_session(proc.pid)
    proc.wait()
    why = p.supervisor_log.read_text(errors="replace").strip()
    hosterr = host.userns_failure(why)
    if hosterr is not None:
        raise hosterr
    raise DevboxError(
        f"the box could not be started: {why or 'no reason given'}", log=str(p.supervisor_log)
    )


def box_binds(box: Box) -> list[sandbox.Bind]:
    """The home, the working tree, devbox's rc files and the host's CA bundle: the same for
    every session, so the supervisor mounts them once (box_fstab)."""
    spec, p = box.spec, box.paths
    _, host_home, _ = _user()
    home_src = str(p.home) if spec.shell.home == "isolated" else host_home
    binds = [
        sandbox.Bind(home_src, host_home),
        sandbox.Bind(str(spec.project), workdir_of(spec)),
        sandbox.Bind(str(p.rc), sandbox.RC_DIR, "ro"),
    ]
    return [*binds, *sandbox.host_ca(host.ca_bundle())[0]]


def ensure_running(box: Box, display: Display) -> int:
    """Join the box as a session (an inherited fd on its FIFO) and return the pid of its
    supervisor, starting it if needed. An idle box of an older build is stopped first."""
    p = box.paths
    p.run.mkdir(parents=True, exist_ok=True)
    with store.flocked(p.start_lock):  # nothing starts or stops meanwhile
        pid = sessions.supervisor_pid(p)
        if pid is not None and _running_ids(p) == stack_ids(box):
            sessions.hold(p)
            return pid
        if pid is not None and not sessions.stop_locked(p):  # in use: join the older box
            display.info(
                "devbox: this box is running an older build (or older [shell] settings); "
                "exit its other sessions to use the new one"
            )
            sessions.hold(p)
            return pid
        _check_not_mounted(box)
        _prepare(box, display)
        sessions.hold(p)
        return _start_supervisor(box)


def _check_not_mounted(box: Box) -> None:
    """Refuse to mount the box again while an earlier mount of it may live: a supervisor left
    by an older devbox, or sessions of a supervisor that died."""
    p = box.paths
    older = sessions.older_supervisor(p)
    if older is not None:
        raise DevboxError(
            f"the box {box.spec.name} is running under an older devbox (supervisor pid {older})",
            hint="exit its shells and runs, then try again",
        )
    if p.supervisor_pid.exists() and sessions.inside(p):
        raise DevboxError(
            f"the box {box.spec.name} lost its supervisor while sessions are still inside; "
            "mounting it again now would mount its writable layer twice",
            hint="exit those shells and runs (or kill them), then try again",
        )


def _user() -> tuple[str, str, str]:
    """(name, home, login shell) of the invoking user; $HOME wins, as for any program."""
    try:
        pw = pwd.getpwuid(os.getuid())
        name, home, shell = pw.pw_name, pw.pw_dir, pw.pw_shell
    except KeyError:
        name, home, shell = os.environ.get("USER", "user"), "/", "/bin/sh"
    home = os.environ.get("HOME") or home
    return name, os.path.abspath(home), shell


def box_cwd(spec: Spec, host_cwd: str) -> str:
    """The current directory inside the box: kept when it is inside the working tree."""
    workdir = workdir_of(spec)
    project = str(spec.project)
    real = os.path.realpath(host_cwd)
    for root in {project, os.path.realpath(project)}:
        if real == root or real.startswith(root.rstrip("/") + "/"):
            return workdir.rstrip("/") + real[len(root.rstrip("/")) :] or "/"
    return workdir


@dataclass(frozen=True)
class Entry:
    """How one session enters a running box: bwrap's part, the command's env, and whether
    nsenter keeps our credentials (bwrap then nests a namespace to be us)."""

    session: sandbox.Session
    env: dict[str, str]
    keep_credentials: bool


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
    user, host_home, login_shell = _user()
    workdir = workdir_of(spec)
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
    )
    env.update(sandbox.host_ca(host.ca_bundle())[1])
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
        cwd=box_cwd(spec, cwd),
        new_session=not interactive,
        cap_add_all=tier.level > 1 and root,
        drop_to=drop_to,
        nested_uid=nested,
        seccomp_fd=seccomp_fd,
    )
    return Entry(session, env, keep)


def enter(
    box: Box,
    argv: Sequence[str] | None,
    display: Display,
    *,
    cwd: str | None = None,
    root: bool = False,
) -> NoReturn:
    """Replace this process with `argv` (or an interactive shell) in the box. `root`: be root
    in the box (ad-hoc installs into the writable layer) instead of the invoking user."""
    p = box.paths
    pid = ensure_running(box, display)
    interactive = argv is None
    extra_env: dict[str, str] = {}
    shell = None
    if argv is None:
        _, _, login_shell = _user()
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
        seccomp_fd=seccomp.memfd() if box.tier.seccomp else None,
    )
    env = {**entry.env, **extra_env}
    join = sandbox.join_argv(
        host.tool("nsenter"), pid, box.tier.userns, keep_credentials=entry.keep_credentials
    )
    full = join + sandbox.bwrap_argv(host.tool("bwrap"), entry.session)
    if display.verbose:
        display.info("devbox: " + json.dumps(full))
    os.execve(full[0], full, env)


def reset(box: Box) -> bool:
    """Discard the writable layer, stopping the box if it is idle. False if it is in use."""
    p = box.paths
    if not p.root.exists():
        return True
    with store.flocked(p.start_lock):
        if not sessions.stop_locked(p):
            return False
        try:
            _check_not_mounted(box)
        except DevboxError:
            return False
        _wipe_upper(box)
    return True
