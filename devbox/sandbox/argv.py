"""Pure argv builders for the sandbox: overlay options, unshare, nsenter, bwrap (the box
supervisor is supervisor.py, build steps are devbox.build.steps).

Nothing here runs anything; every function is golden-tested. The privilege tier (the uid map)
is a parameter (`UserNs`), not an assumption: tier 1 (host root) passes None.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from devbox.sandbox.host import UserNs

# Mount points inside a box that devbox owns.
RC_DIR = "/run/devbox"
HOST_CA_DIR = "/run/devbox-host-ca"  # the directory of the host's CA bundle, read-only
CA_ENV = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "NODE_EXTRA_CA_CERTS",
          "CURL_CA_BUNDLE", "GIT_SSL_CAINFO")  # fmt: skip


def host_ca(bundle: str | None) -> tuple[tuple[Bind, ...], dict[str, str]]:
    """The bind and the env that make a box trust the host's CA bundle (host.ca_bundle):
    its directory, read-only at HOST_CA_DIR (a directory, because session mount points are
    made as directories), and the usual tools' variables pointing at the file there."""
    if bundle is None:
        return (), {}
    bind = Bind(os.path.dirname(bundle), HOST_CA_DIR, "ro")
    return (bind,), dict.fromkeys(CA_ENV, f"{HOST_CA_DIR}/{os.path.basename(bundle)}")


@dataclass(frozen=True)
class Bind:
    src: str
    dest: str
    mode: str = "rw"  # "rw" | "ro" | "ro-try"

    def argv(self) -> list[str]:
        flag = {"rw": "--bind", "ro": "--ro-bind", "ro-try": "--ro-bind-try"}[self.mode]
        return [flag, self.src, self.dest]


def overlay_options(
    lowers: Sequence[str], upper: str, work: str, *, userxattr: bool = False
) -> str:
    """Mount options for an overlay; `lowers` top first. Paths are relative to the store root
    (the mount runs there), so they need no escaping and stay short."""
    for p in (*lowers, upper, work):
        if any(c in p for c in ",:\\") or p.startswith("/"):
            raise ValueError(f"overlay path must be store-relative and plain: {p!r}")
    opts = [f"lowerdir={':'.join(lowers)}", f"upperdir={upper}", f"workdir={work}"]
    opts += ["redirect_dir=nofollow", "metacopy=off", "index=off", "xino=off"]
    if userxattr:
        opts.append("userxattr")
    return ",".join(opts)


def unshare_argv(
    unshare: str, userns: UserNs | None, *, pid: bool = False, setpriv: str = "setpriv"
) -> list[str]:
    """`pid`: a pid namespace too, whose every process dies with unshare (which dies with
    devbox: its parent-death signal). unshare's `--kill-child` sets that signal on its child,
    but a change of the child's uid clears it (tier 2's `--setuid 0`), so the child sets it
    again with `setpriv` after the change."""
    argv = [unshare]
    if userns is not None:
        argv += list(userns.unshare_flags)
    argv += ["--mount", "--propagation", "private"]
    if not pid:
        return [*argv, "--"]
    return [*argv, "--pid", "--fork", "--kill-child", "--", setpriv, "--pdeathsig", "KILL", "--"]


def join_argv(
    nsenter: str, pid: int | str, userns: UserNs | None, *, keep_credentials: bool = False
) -> list[str]:
    """Enter a running box's mount namespace (and user namespace, for tiers 2 and 3).
    `keep_credentials`: stay who we are in the user namespace (bwrap then nests one of its
    own to be us), instead of becoming its root."""
    argv = [nsenter, f"--target={pid}"]
    if userns is not None:
        argv += list(userns.join_flags)  # as its root: bwrap then sets the box up
        if keep_credentials and "--preserve-credentials" not in argv:
            argv.append("--preserve-credentials")
    return [*argv, "--mount", "--"]


@dataclass(frozen=True)
class Session:
    """One process tree in a box: what bwrap needs to set up around `argv`."""

    root: str  # the merged root, as seen where bwrap starts
    argv: tuple[str, ...]
    cwd: str
    binds: tuple[Bind, ...] = ()
    tmpfs: tuple[str, ...] = ()
    new_session: bool = True
    cap_add_all: bool = False  # root in the box keeps its capabilities (tiers 2, 3)
    nested_uid: tuple[int, int] | None = None  # tier 3: be (uid, gid) in a nested namespace
    drop_to: tuple[int, int] | None = None  # tier 2: setpriv to (uid, gid) in the box
    seccomp_fd: int | None = None  # tier 3: the fake-chown filter


def bwrap_argv(bwrap: str, s: Session) -> list[str]:
    argv = [bwrap]
    if s.nested_uid is not None:
        argv += ["--unshare-user", "--uid", str(s.nested_uid[0]), "--gid", str(s.nested_uid[1])]
    argv += ["--bind", s.root, "/", "--proc", "/proc", "--dev", "/dev"]
    argv += ["--ro-bind-try", "/sys", "/sys"]
    argv += ["--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"]
    argv += ["--ro-bind-try", "/etc/hosts", "/etc/hosts"]
    for t in s.tmpfs:
        argv += ["--perms", "1777" if t == "/tmp" else "0755", "--tmpfs", t]
    made: set[str] = set()
    for b in s.binds:
        argv += _parents(b.dest, made)
        argv += b.argv()
    argv += ["--chdir", s.cwd, "--unshare-pid", "--die-with-parent"]
    if s.new_session:
        argv.append("--new-session")
    if s.cap_add_all:
        argv += ["--cap-add", "ALL"]
    if s.seccomp_fd is not None:
        argv += ["--seccomp", str(s.seccomp_fd)]
    command = list(s.argv)
    if s.drop_to is not None:
        uid, gid = s.drop_to
        command = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *command]
    return [*argv, "--", *command]


def _parents(dest: str, made: set[str]) -> list[str]:
    """bwrap makes a bind's missing parent dirs 0700, which only root can traverse; make them
    0755 first (`--dir` leaves existing directories alone)."""
    out: list[str] = []
    parts = [p for p in dest.split("/") if p][:-1]
    for i in range(1, len(parts) + 1):
        d = "/" + "/".join(parts[:i])
        if d not in made:
            made.add(d)
            out += ["--perms", "0755", "--dir", d]
    return out
