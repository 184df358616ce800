"""Starting and stopping a box: the project's directories, its supervisor (the script and its
fstab are supervisor.py's), joining it as a session, and reset."""

from __future__ import annotations

import grp
import os
import subprocess
import time
from pathlib import Path

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.sandbox import argv as sandbox
from devbox.sandbox import box as box_
from devbox.sandbox import host, limits, network, sessions, shellrc, supervisor
from devbox.sandbox.box import Box, Reporter
from devbox.store import fs, private


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


def supervisor_command(box: Box) -> list[str]:
    """The argv of the box's supervisor (see supervisor.SUPERVISOR_SCRIPT)."""
    p = box.paths
    tier = box.tier
    passwd = group = ""
    if tier.level > 1:  # the user must exist in the box under their own name
        _, home, login = box_.user()
        shell = shellrc.box_has(box.roots(), os.path.basename(login)) or "/bin/sh"
        if any(c in f"{home}{shell}" for c in ":\n"):
            raise DevboxError(
                f"HOME cannot be the box user's home: {home!r} holds a ':' or a newline",
                hint="set HOME to a plain path",
            )
        passwd = f"{tier.user}:x:{tier.uid}:{tier.gid}::{home}:{shell}"
        try:
            gname = grp.getgrgid(tier.gid).gr_name
        except KeyError:
            gname = tier.user
        group = f"{gname}:x:{tier.gid}:"
    argv = supervisor.supervisor_argv(
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
        mount_points(box),
        network.net_id(box.spec),
    )
    return network.supervisor_argv(box.spec, p, argv)


def mount_points(box: Box) -> list[str]:
    """The box path of each of box_fstab's lines after the overlay."""
    binds = box_.box_binds(box)
    return supervisor.box_mount_points(binds, box_.store_masks(box, binds))


def box_fstab(box: Box) -> str:
    """What the supervisor mounts: the overlay of the layers and the writable layer, /tmp, /run
    and the binds every session shares."""
    p = box.paths

    def rel(q: Path) -> str:
        return str(q.relative_to(box.store.root))

    lowers = [rel(box.store.layer_rootfs(d)) for d in reversed(box.lowers)]
    opts = sandbox.overlay_options(lowers, rel(p.upper), rel(p.work), userxattr=box.tier.level > 1)
    binds = box_.box_binds(box)
    masks = box_.store_masks(box, binds)
    return supervisor.box_fstab(opts, str(p.merged), binds, masks)


SUPERVISOR_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


def start_supervisor(box: Box, held: limits.Enforcement = limits.NONE) -> int:
    """Start the box's supervisor, in the box's cgroups (`held`), and return its pid."""
    p = box.paths
    argv = limits.wrap(held, supervisor_command(box), rlimits=False)
    p.supervisor_pid.unlink(missing_ok=True)
    p.stack_ids.write_text(box_.stack_ids(box) + "\n")
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
    hosterr = host.userns_failure(why) or network.failure(why)
    if hosterr is not None:
        raise hosterr
    raise DevboxError(
        f"the box could not be started: {why or 'no reason given'}", log=str(p.supervisor_log)
    )


def ensure_running(box: Box, display: Reporter) -> int:
    """Join the box as a session (an inherited fd on its FIFO) and return the pid of its
    supervisor, starting it if needed. An idle box of an older build is stopped first. The
    caller puts its session in the box's cgroups and rlimits (limits.wrap)."""
    p = box.paths
    for d in (p.root, p.run, p.home):  # the user's alone (an older devbox's 0755 tightened)
        private.mkdirs(d)
    with fs.flocked(p.start_lock):  # nothing starts or stops meanwhile
        held = limits.prepare(box_.held_limits(box), display)
        pid = sessions.supervisor_pid(p)
        if pid is not None and box_.running_ids(p) == box_.stack_ids(box):
            sessions.hold(p)
            return pid
        if pid is not None and not sessions.stop_locked(p):  # in use: join the older box
            network.check_running(box.spec, p)  # ...but never on another network
            display.info(
                "devbox: this box is running an older build (or older [shell] settings); "
                "exit its other sessions to use the new one"
            )
            sessions.hold(p)
            return pid
        _check_not_mounted(box)
        _prepare(box, display)
        sessions.hold(p)
        return start_supervisor(box, held)


def _prepare(box: Box, display: Reporter) -> None:
    """Make the project's dirs; drop a writable layer made against another stack."""
    p = box.paths
    for d in (p.upper, p.work, p.merged):  # upper's root dir is the box's `/`: not ours to tighten
        if not d.is_dir():
            _make_root(d)
    for d in (p.home, p.rc, p.run):
        private.mkdirs(d)
    stack_file = p.stack_file
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
        _seed_home(box, display)
        private.tighten(p.home)  # the copy gave it /etc/skel's mode


def _make_root(d: Path) -> None:
    """A new writable layer's dir: 0755 whatever the umask (root's may be 077), as upper's root
    dir is the box's `/`: one only its owner can search breaks every user of the box but root,
    such as the `user` a database service runs as."""
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)


def _wipe_upper(box: Box) -> None:
    p = box.paths
    for d in (p.upper, p.work):
        host.remover(box.tier)(d)
        _make_root(d)


def _seed_home(box: Box, display: Reporter) -> None:
    """A new isolated home starts as the box's /etc/skel: the topmost layer that has one wins.
    The layers are the box's to write, so no symlink in them is followed: a symlinked (or
    whited-out) /etc or /etc/skel seeds nothing, symlinks inside skel are copied as symlinks."""
    for root in box.roots():
        try:
            skel = nofollow.open_dir(root, "etc/skel")
        except FileNotFoundError:
            continue
        except (OSError, DevboxError):
            display.info(
                "devbox: the box's /etc/skel is not a plain directory; its home starts empty"
            )
            return
        try:
            home = nofollow.open_root(box.paths.home)
            try:
                nofollow.copy_tree(skel, home)
            finally:
                os.close(home)
        except (OSError, DevboxError) as e:
            display.info(f"devbox: the box's /etc/skel was not fully copied to its home: {e}")
        finally:
            os.close(skel)
        return


def reset(box: Box) -> bool:
    """Discard the writable layer, stopping the box if it is idle. False if it is in use."""
    p = box.paths
    if not p.root.exists():
        return True
    with fs.flocked(p.start_lock):
        if not sessions.stop_locked(p):
            return False
        try:
            _check_not_mounted(box)
        except DevboxError:
            return False
        _wipe_upper(box)
    return True
