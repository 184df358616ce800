"""The box supervisor (pure): its sh script, its argv, and the fstab of what it mounts.

One supervisor per running box holds the box's mount namespace; box.py starts it, sessions.py
counts who is inside and stops it, launcher.py embeds its argv. Golden-tested in
tests/unit/test_sandbox.py; its session protocol runs for real in tests/unit/test_sessions.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from devbox import template
from devbox.sandbox.argv import Bind, unshare_argv
from devbox.sandbox.host import UserNs

# The box supervisor (supervisor.sh.in, run by `sh -c`): mounts the project's overlay once, in a
# mount namespace of its own, with the binds every session shares (box_fstab, in batches, each
# mount point checked first: box_mount_points),
# and says it is ready by writing its pid. Sessions are counted by the kernel: each holds the
# sessions FIFO open for writing for its whole life (fd 8, inherited by everything in the box;
# opening it is a shell builtin, so joining costs no process) and writes one byte on arrival. The
# supervisor's blocking read ends when no session is left; it then lingers for $9 seconds (an
# arrival resets the count), so that the next command joins a box that is already up. To go, it
# takes the start lock, removes its pid file and only then checks that nobody holds the FIFO: a
# session that read the pid before it was removed was already holding the FIFO, and one that
# reads it after finds no pid and waits on the start lock. A stopper (sessions.stop) does the
# same from outside, then sends SIGUSR1. It unmounts before it lets go of the start lock, so the
# writable layer is never mounted twice. Closing fd 3 once ready tells a launcher that started it
# with a pipe there (launcher.py) that the box is up, without polling.
# $1 store root (cwd), $2 fstab, $3 merged dir, $4 pid file, $5 sessions FIFO, $6/$7 passwd and
# group lines to add (the box's /etc is its own: the script checks it is the merged root's real
# etc, pinned as its cwd, and dd opens the files with O_NOFOLLOW and O_NONBLOCK, so a planted
# symlink or FIFO is neither followed nor waited on), $8 start lock, $9 linger seconds, ${10} the
# box's network (see supervisor_argv), then the mount points. Its first
# line is a no-op naming it (supervisor_script); the template's `#!` line is for shellcheck and
# editors, not for `sh -c`.
TEMPLATE = template.load(__file__, "supervisor.sh.in").removeprefix("#!/bin/sh\n")
SUPERVISOR_SCRIPT = TEMPLATE.split("\n", 1)[1]  # the script after that first line
SUPERVISOR_MARK = "devbox-box-2"  # in its cmdline: a supervisor that speaks this protocol


def supervisor_script(pid_file: str) -> str:
    """SUPERVISOR_SCRIPT headed by a no-op naming its protocol and pid file, so that the first
    line of its /proc/PID/cmdline (readable by anyone, unlike its fds) says whose supervisor it
    is (and that it counts sessions by the FIFO)."""
    return template.fill(TEMPLATE, {"MARK": SUPERVISOR_MARK, "PID_FILE": pid_file})


def supervisor_cmdline_head(pid_file: str) -> str:
    """That first line as `read` sees it in the supervisor's cmdline (NULs dropped)."""
    return "/bin/sh-c" + supervisor_script(pid_file).split("\n", 1)[0]


def supervisor_argv(
    unshare: str,
    userns: UserNs | None,
    store_root: str,
    fstab: str,
    merged: str,
    pid_file: str,
    sessions_fifo: str,
    start_lock: str,
    linger: str,
    passwd_line: str = "",
    group_line: str = "",
    mount_points: Sequence[str] = (),
    network: str = "",
) -> list[str]:
    """`fstab`: what to mount, in order (box_fstab), and `mount_points` the box path of each of
    its lines after the overlay (box_mount_points). `linger`: seconds the box stays up after its
    last session (digits; anything else is 0). `passwd_line`/`group_line`: the invoking user's
    entries, added to the box if missing. `network`: "" for the host's, else what the box's own
    network namespace gets (sandbox.network.net_id)."""
    return [
        *unshare_argv(unshare, userns, net=bool(network)),
        "/bin/sh", "-c", supervisor_script(pid_file), "devbox-box",
        store_root, fstab, merged, pid_file, sessions_fifo, passwd_line, group_line,
        start_lock, linger, network, *mount_points,
    ]  # fmt: skip


def box_mount_points(binds: Sequence[Bind], masks: Sequence[str] = ()) -> list[str]:
    """The box path of each line of box_fstab after the overlay, in its order: the supervisor
    checks each is made of real directories (no symlink the box planted) before mounting it. It
    mounts them in batches (one `mount -a` each); an empty string before a path that lies in one
    of the batch before it says to mount that batch first."""
    out: list[str] = []
    batch: list[str] = []
    for dest in ["/tmp", "/run", *(b.dest for b in binds), *masks]:
        if any(dest == b or dest.startswith(b.rstrip("/") + "/") for b in batch):
            out.append("")
            batch = []
        out.append(dest)
        batch.append(dest)
    return out


def fstab_path(path: str) -> str:
    """A path as fstab(5) writes it: space, tab, newline and backslash in octal."""
    for ch, code in (("\\", "\\134"), (" ", "\\040"), ("\t", "\\011"), ("\n", "\\012")):
        path = path.replace(ch, code)
    return path


def box_fstab(options: str, merged: str, binds: Sequence[Bind], masks: Sequence[str] = ()) -> str:
    """The box's mounts, for one `mount -a -T FSTAB` in the supervisor (one process): the
    overlay (`options` relative to the store root, the supervisor's cwd), a private /tmp and
    /run, then the binds every session shares (made where missing, in order, so a bind can go
    inside an earlier one), then an empty read-only tmpfs over each of `masks` (box paths
    a bind brought in that no session may reach: box.store_masks)."""
    m = fstab_path(merged)
    lines = [
        f"devbox {m} overlay {options} 0 0",
        f"devbox-tmp {m}/tmp tmpfs mode=1777,nosuid,nodev 0 0",
        f"devbox-run {m}/run tmpfs mode=755,nosuid,nodev 0 0",
    ]
    for b in binds:
        # rw binds take their submounts along, as bwrap's --bind does
        opts = {"rw": "rbind", "ro": "bind,ro", "ro-try": "bind,ro,nofail"}[b.mode]
        dest = fstab_path(merged.rstrip("/") + b.dest)
        lines.append(f"{fstab_path(b.src)} {dest} none {opts},X-mount.mkdir 0 0")
    for path in masks:
        dest = fstab_path(merged.rstrip("/") + path)
        lines.append(f"devbox-mask {dest} tmpfs ro,nosuid,nodev,noexec,mode=755 0 0")
    return "\n".join(lines)
