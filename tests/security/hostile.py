"""Hostile plants for the property test of writable layers (test_hostile_layers.py): what a box
can put at the paths devbox touches on the host, the shell that plants it from inside the box,
and the host-side checks (devbox's calls, sentinels, new files, leaked secrets)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.security.actors import Actor

# What a plant is: a symlink to a host file, to a host directory, to a host path that does not
# exist yet (a new file would appear there), a fifo (a read or an open hangs), a directory where
# a file is expected, a file where a directory is expected, a sibling with a newline and a
# terminal escape in its name.
LINK_FILE, LINK_DIR, DANGLING = "link-file", "link-dir", "dangling"
FIFO, DIR, FILE, ODD_NAME = "fifo", "dir", "file", "odd-name"
FILE_KINDS = (LINK_FILE, LINK_DIR, DANGLING, FIFO, DIR, ODD_NAME)
DIR_KINDS = (LINK_FILE, LINK_DIR, DANGLING, FILE, ODD_NAME)

# Who plants it: a [setup] step (root, in the layer being built), `devbox run --root` (the
# writable layer), `devbox run` (the box home and the project directory).
SETUP, ROOT, USER = "setup", "root", "user"

ODD = "odd\nname\x1b]0;pwned\x07\x1b[31m"


@dataclass(frozen=True)
class Target:
    """A path devbox touches on the host: absolute (the box's root), `~/...` (the box home) or
    relative (the project directory)."""

    path: str
    kinds: tuple[str, ...]
    by: tuple[str, ...]


TARGETS = {
    # the supervisor appends the user's line to them (tiers 2 and 3)
    "passwd": Target("/etc/passwd", FILE_KINDS, (SETUP, ROOT)),
    "group": Target("/etc/group", FILE_KINDS, (SETUP, ROOT)),
    # a new isolated home is seeded from it
    "skel": Target("/etc/skel", DIR_KINDS, (SETUP, ROOT)),
    "skel-bashrc": Target("/etc/skel/.bashrc", FILE_KINDS, (SETUP, ROOT)),
    "skel-profile": Target("/etc/skel/.profile", FILE_KINDS, (SETUP, ROOT)),
    # every session binds the host's over them (bwrap makes them where missing)
    "resolv": Target("/etc/resolv.conf", FILE_KINDS, (SETUP, ROOT)),
    "hosts": Target("/etc/hosts", FILE_KINDS, (SETUP, ROOT)),
    # build outputs: the host reads them once the step is done
    "packages": Target("/tmp/devbox-out/packages.tsv", FILE_KINDS, (SETUP,)),
    # the box home (the launcher looks into it; gc deletes it)
    "bashrc": Target("~/.bashrc", tuple(k for k in FILE_KINDS if k != FIFO), (USER,)),
    "profile": Target("~/.profile", FILE_KINDS, (USER,)),
    "zshrc": Target("~/.zshrc", FILE_KINDS, (USER,)),
    "fish": Target("~/.config/fish", DIR_KINDS, (USER,)),
    # the project directory: the lock, its temp file, a setup input
    "lock-new": Target(".devbox.lock.new", FILE_KINDS, (USER,)),
    "lock": Target("devbox.lock", FILE_KINDS, (USER,)),
    "input": Target("input.txt", FILE_KINDS, (USER,)),
}
RARE = {"etc": Target("/etc", DIR_KINDS, (SETUP,))}  # breaks most of the box: drawn rarely
EMPTY_HOME = "empty-home"  # the box empties its home: the next start seeds it from skel again


@dataclass(frozen=True)
class Plant:
    target: str
    kind: str
    by: str
    aim: int  # which host file, directory or new path it points at

    def __str__(self) -> str:
        where = (TARGETS | RARE)[self.target].path if self.target in TARGETS | RARE else ""
        return f"{self.kind} at {where or self.target} by {self.by} (aim {self.aim})"


@dataclass
class Host:
    """The host side of one example: what the plants point at, and what must not change."""

    actor: Actor
    token: str  # in the names of new paths, so that they are told from anyone else's
    etc_sentinel: Path
    sentinels: dict[Path, bytes] = field(default_factory=dict)
    missed: list[Plant] = field(default_factory=list)  # plants not in place once planted

    @property
    def files(self) -> list[Path]:
        return [*self.sentinels]

    @property
    def dirs(self) -> list[Path]:
        return [self.actor.home / ".ssh", self.actor.home, Path("/etc")]

    @property
    def new_paths(self) -> list[Path]:
        """Where a followed dangling symlink would make a new file."""
        name = f"dbx-new-{self.token}"
        return [self.actor.home / name, self.actor.work / name, Path("/tmp") / name]

    def aim(self, kind: str, aim: int) -> str:
        pool = {LINK_FILE: self.files, LINK_DIR: self.dirs, DANGLING: self.new_paths}[kind]
        return str(pool[aim % len(pool)])


def plant_script(plants: Iterable[Plant], host: Host) -> str:
    """sh that plants `plants` from inside the box; each one best effort (a plant that cannot be
    made is left out: the property must hold whatever landed)."""
    lines = []
    for plant in plants:
        if plant.target == EMPTY_HOME:
            lines.append('find "$HOME" -mindepth 1 -delete')
            continue
        target = (TARGETS | RARE)[plant.target]
        path = target.path
        p = f'"$HOME"/{shlex.quote(path[2:])}' if path.startswith("~/") else shlex.quote(path)
        lines.append(f"p={p}")
        if plant.kind == ODD_NAME:  # in the directory, or beside the file
            d = '"$p"' if target.kinds == DIR_KINDS else '"$(dirname "$p")"'
            lines.append(f"mkdir -p {d}; echo odd > {d}/{_odd()}")
            continue
        lines.append('umount "$p" 2>/dev/null; rm -rf "$p" 2>/dev/null; mkdir -p "$(dirname "$p")"')
        if plant.target == "lock-new":  # the next build writes the lock again, through it
            lines.append("rm -f devbox.lock")
        if plant.target == "etc":  # the sessions' binds in /etc are in the way
            lines.append("umount /etc/resolv.conf /etc/hosts 2>/dev/null; rm -rf /etc")
        if plant.kind in (LINK_FILE, LINK_DIR, DANGLING):
            aim = shlex.quote(host.aim(plant.kind, plant.aim))
            if plant.target == "packages":  # the step's own write then lands in the layer
                lines.append(f'mkdir -p "$(dirname {aim})" 2>/dev/null')
            lines.append(f'ln -s {aim} "$p"')
        elif plant.kind == FIFO:
            lines.append('mkfifo "$p"')
            if plant.target == "packages":  # read once in the box: it is written, then stays
                lines.append('(cat "$p" >/dev/null &)')
        elif plant.kind == DIR:
            lines.append('mkdir -p "$p"/sub')
        elif plant.kind == FILE:
            lines.append('echo file > "$p"')
    lines.append("true")
    return "\n".join(lines)


def landed(plant: Plant, host: Host, roots: dict[str, Path], project: Path) -> bool | None:
    """Whether `plant` is in place, seen from the host: in the layer it was built into, the
    writable layer, the box home or the project directory (`roots`: by who planted it, and
    "home"). None: cannot be told (a build output, gone with the build; an emptied home)."""
    if plant.target in (EMPTY_HOME, "packages"):
        return None
    path = (TARGETS | RARE)[plant.target].path
    if path.startswith("~/"):
        p = roots["home"] / path[2:]
    elif path.startswith("/"):
        p = roots[plant.by] / path[1:]
    else:
        p = project / path
    try:
        st = os.lstat(p)
    except OSError:
        st = None
    if plant.kind in (LINK_FILE, LINK_DIR, DANGLING):
        return (
            st is not None and p.is_symlink() and os.readlink(p) == host.aim(plant.kind, plant.aim)
        )
    if plant.kind == ODD_NAME:
        d = p if (TARGETS | RARE)[plant.target].kinds == DIR_KINDS else p.parent
        return os.path.lexists(d / ODD)
    if st is None:
        return False
    want = {FIFO: stat.S_ISFIFO, DIR: stat.S_ISDIR, FILE: stat.S_ISREG}[plant.kind]
    return want(st.st_mode)


def _odd() -> str:
    """ODD as sh writes it: printf's escapes, no control character in the script itself."""
    escaped = ODD.replace("\n", "\\n").replace("\x1b", "\\033").replace("\x07", "\\007")
    return f"\"$(printf '{escaped}')\""


@dataclass(frozen=True)
class Call:
    args: tuple[str, ...]
    rc: int | None  # None: killed after its timeout
    stdout: str
    stderr: str
    seconds: float
    hang_ok: bool = False  # the box hangs its own program (not devbox): not a problem

    def problems(self, *, own_output: bool) -> list[str]:
        """Not 0 or 1, a hang, a traceback, and control characters in what devbox printed."""
        out = []
        if self.rc is None and not self.hang_ok:
            out.append("hung (killed after its timeout)")
        elif self.rc is not None and self.rc not in (0, 1):
            out.append(f"exit status {self.rc}")
        if "Traceback" in self.stderr or "internal error" in self.stderr:
            out.append("a traceback or an internal error")
        text = self.stdout + self.stderr
        if own_output and any(c < " " and c not in "\n\t" for c in text):
            out.append("control characters in its output")
        return [f"devbox {' '.join(self.args)!r}: {p}: {self.stderr[-600:]!r}" for p in out]


def call(
    actor: Actor, *args: str, cwd: Path, env: dict[str, str], timeout: float, input: str = "",
    hang_ok: bool = False,
) -> Call:  # fmt: skip
    """`devbox ARGS` as `actor`, in a session of its own that is killed whole on a timeout."""
    argv = actor.argv(actor.python(), "-m", "devbox", *args)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=actor.env(env), stdout=out, stderr=err, start_new_session=True,
            stdin=subprocess.PIPE if input else subprocess.DEVNULL,
        )  # fmt: skip
        if input and proc.stdin is not None:
            try:
                proc.stdin.write(input.encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass
        rc: int | None
        start = time.monotonic()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        finally:  # on a timeout, and on the test's own interruption
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        took = time.monotonic() - start
        text = [(f.seek(0), f.read().decode(errors="replace"))[1] for f in (out, err)]
        return Call(args, rc, text[0], text[1], took, hang_ok)


def kill_leftovers(marker: str) -> list[int]:
    """Kill the processes of this example's box (their command line names its state
    directory, which is this example's alone): a box left hanging by a plant."""
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if marker.encode() in cmdline:
            with contextlib.suppress(OSError):
                os.kill(int(entry), signal.SIGKILL)
                killed.append(int(entry))
    return killed


def tree(root: Path, skip: Iterable[Path] = ()) -> set[str]:
    """Every path under `root` (not following symlinks), `skip` and what is below left out."""
    skipped = {str(p) for p in skip}
    out: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skipped]
        for name in dirnames + filenames:
            out.add(os.path.join(dirpath, name))
    return out


def names(directory: Path) -> set[str]:
    return set(os.listdir(directory)) if directory.is_dir() else set()


def leaks(secrets: Iterable[bytes], roots: Iterable[Path], limit: int = 1 << 20) -> list[str]:
    """Regular files under `roots` (not following symlinks) holding any of `secrets`: a host
    file copied where the box can read it."""
    wanted = [s for s in secrets if len(s) >= 8]
    found = []
    for root in roots:
        if root.is_symlink() or not root.exists():
            continue
        files = [root] if root.is_file() else []
        for dirpath, _, filenames in os.walk(root):
            files += [Path(dirpath) / n for n in filenames]
        for f in files:
            try:
                if not f.is_symlink() and f.is_file() and f.stat().st_size <= limit:
                    data = f.read_bytes()
                    found += [f"{f}: {s[:30]!r}" for s in wanted if s in data]
            except OSError:
                continue
    return found
