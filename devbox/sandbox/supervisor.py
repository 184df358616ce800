"""The box supervisor (pure): its sh script, its argv, and the fstab of what it mounts.

One supervisor per running box holds the box's mount namespace; box.py starts it, sessions.py
counts who is inside and stops it, launcher.py embeds its argv. Golden-tested in
tests/unit/test_sandbox.py; its session protocol runs for real in tests/unit/test_sessions.py.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from devbox.sandbox.argv import Bind, unshare_argv
from devbox.sandbox.host import UserNs

# The box supervisor: mounts the project's overlay once, in a mount namespace of its own, with
# the binds every session shares (one `mount -a` of box_fstab), and says it is ready by writing
# its pid. Sessions are counted by the kernel: each holds the sessions FIFO open for writing for
# its whole life (fd 8, inherited by everything in the box; opening it is a shell builtin, so
# joining costs no process) and writes one byte on arrival. The supervisor's blocking read ends
# when no session is left; it then lingers for $9 seconds (an arrival resets the count), so that
# the next command joins a box that is already up. To go, it takes the start lock, removes its
# pid file and only then checks that nobody holds the FIFO: a session that read the pid before
# it was removed was already holding the FIFO, and one that reads it after finds no pid and
# waits on the start lock. A stopper (sessions.stop) does the same from outside, then sends
# SIGUSR1. It unmounts before it lets go of the start lock, so the writable layer is never
# mounted twice. Closing fd 3 once ready tells a launcher that started it with a pipe there
# (launcher.py) that the box is up, without polling.
# $1 store root (cwd), $2 fstab, $3 merged dir, $4 pid file, $5 sessions FIFO, $6/$7 passwd and
# group lines to add, $8 start lock, $9 linger seconds.
SUPERVISOR_SCRIPT = r"""set -eu
trap '' INT HUP QUIT TSTP
stop=
trap 'stop=1' USR1
pidfile=$4 fifo=$5 startlock=$8
case ${9-} in ''|*[!0-9]*) linger=0 ;; *) linger=$9 ;; esac
cd "$1"
exec 6<>"$fifo"
exec 9<"$fifo"
exec 6>&-
printf '%s\n' "$2" > "${fifo%/*}/fstab"
mount -a -T "${fifo%/*}/fstab"
add() { [ -z "$1" ] || grep -q "^${1%%:*}:" "$2" || printf '%s\n' "$1" >> "$2"; }
add "$6" "$3/etc/passwd"
add "$7" "$3/etc/group"
umask 022
ready() { echo $$ > "$pidfile"; }
ready
exec 3>&-
nap() { sleep "$1" & wait $! || :; kill $! 2>/dev/null || :; }
nobody() {
  r=$(dd if="$fifo" iflag=nonblock bs=65536 count=1 2>&1 >/dev/null) || return 1
  case $r in "0+0 records in"*) return 0 ;; esac
  return 1
}
tick=5
[ "$linger" -ge "$tick" ] || tick=$linger
idle=0
while :; do
  while IFS= read -r _ <&9; do idle=0; done
  [ -z "$stop" ] || break
  if [ "$idle" -lt "$linger" ]; then
    nap "$tick"
    idle=$((idle + tick))
    continue
  fi
  exec 7>>"$startlock"
  if flock -x -n 7; then
    rm -f "$pidfile"
    if nobody; then break; fi
    ready
    idle=0
  else
    nap 0.2
  fi
  exec 7>&-
done
rm -f "$pidfile"
umount -R "$3"
"""
SUPERVISOR_MARK = "devbox-box-2"  # in its cmdline: a supervisor that speaks this protocol


def supervisor_script(pid_file: str) -> str:
    """SUPERVISOR_SCRIPT headed by a no-op naming its protocol and pid file, so that the first
    line of its /proc/PID/cmdline (readable by anyone, unlike its fds) says whose supervisor it
    is (and that it counts sessions by the FIFO)."""
    return f": {SUPERVISOR_MARK} {shlex.quote(pid_file)}\n{SUPERVISOR_SCRIPT}"


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
) -> list[str]:
    """`fstab`: what to mount, in order (box_fstab). `linger`: seconds the box stays up after
    its last session (digits; anything else is 0). `passwd_line`/`group_line`: the invoking
    user's entries, added to the box if missing."""
    return [
        *unshare_argv(unshare, userns),
        "/bin/sh", "-c", supervisor_script(pid_file), "devbox-box",
        store_root, fstab, merged, pid_file, sessions_fifo, passwd_line, group_line,
        start_lock, linger,
    ]  # fmt: skip


def fstab_path(path: str) -> str:
    """A path as fstab(5) writes it: space, tab, newline and backslash in octal."""
    for ch, code in (("\\", "\\134"), (" ", "\\040"), ("\t", "\\011"), ("\n", "\\012")):
        path = path.replace(ch, code)
    return path


def box_fstab(options: str, merged: str, binds: Sequence[Bind]) -> str:
    """The box's mounts, for one `mount -a -T FSTAB` in the supervisor (one process): the
    overlay (`options` relative to the store root, the supervisor's cwd), a private /tmp and
    /run, then the binds every session shares (made where missing, in order, so a bind can go
    inside an earlier one)."""
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
    return "\n".join(lines)
