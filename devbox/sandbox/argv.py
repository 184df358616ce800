"""Pure argv builders for the sandbox: overlay options, unshare, nsenter, bwrap (the box
supervisor is supervisor.py, build steps are devbox.build.steps).

Nothing here runs anything; every function is golden-tested. The privilege tier (the uid map)
is a parameter (`UserNs`), not an assumption: tier 1 (host root) passes None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from devbox.sandbox.host import UserNs

# Mount points inside a box that devbox owns.
RC_DIR = "/run/devbox"
# The host's CA bundle in a box: sessions see devbox's copy of it in the rc dir (box.sync_host_ca),
# build steps a read-only bind of a copy made for the step; never the host's file or directory.
HOST_CA = f"{RC_DIR}/host-ca.pem"
# The user's git config in a box with an isolated home: devbox's copy of it (box.sync_rc), which
# git reads as its system config (GIT_CONFIG_SYSTEM): `git config --global` writes the box's home.
HOST_GITCONFIG = f"{RC_DIR}/gitconfig"
# Last on a box's PATH: a `sudo` that says how to be root in the box, if the box has none.
RC_BIN = f"{RC_DIR}/bin"
CA_ENV = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "NODE_EXTRA_CA_CERTS",
          "CURL_CA_BUNDLE", "GIT_SSL_CAINFO")  # fmt: skip
# What root keeps where it is the host's root (tier 1) and is asked to be root (--root, build
# steps): what apt and dpkg need, Docker's default set without the ones that reach past the box
# (NET_RAW on the host's network, MKNOD for the host's disks, no device cgroup here) and
# nothing of SYS_ADMIN, DAC_READ_SEARCH (open_by_handle_at), SYS_MODULE, SYS_PTRACE...
ROOT_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
             "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SYS_CHROOT",
             "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE")  # fmt: skip
ALL_CAPS = ("ALL",)  # in a user namespace (tiers 2 and 3): every capability, over it only


DROP_TO_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH")


def root_caps(tier: int) -> tuple[str, ...]:
    """What root in the box keeps (--root, build steps): in a user namespace every capability
    (over that namespace only); as the host's root (tier 1) ROOT_CAPS."""
    return ALL_CAPS if tier > 1 else ROOT_CAPS


def host_ca_env(bundle: str | None) -> dict[str, str]:
    """The usual tools' variables pointing at the host's CA bundle in the box (HOST_CA)."""
    return {} if bundle is None else dict.fromkeys(CA_ENV, HOST_CA)


def host_ca_binds(bundle: str | None) -> tuple[Bind, ...]:
    """A build step's bind of (a copy of) the host's CA bundle: the file alone, read-only, at
    HOST_CA."""
    return () if bundle is None else (Bind(bundle, HOST_CA, "ro"),)


@dataclass(frozen=True)
class Bind:
    src: str
    dest: str
    mode: str = "rw"  # "rw" | "ro", or with "-try" (no source: no bind); "dev-try": a device

    def argv(self) -> list[str]:
        flag = {"rw": "--bind", "ro": "--ro-bind", "ro-try": "--ro-bind-try",
                "rw-try": "--bind-try", "dev-try": "--dev-bind-try"}[self.mode]  # fmt: skip
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
    unshare: str,
    userns: UserNs | None,
    *,
    pid: bool = False,
    setpriv: str = "setpriv",
    net: bool = False,
) -> list[str]:
    """`pid`: a pid namespace too, whose every process dies with unshare (which dies with
    devbox: its parent-death signal). unshare's `--kill-child` sets that signal on its child,
    but a change of the child's uid clears it (tier 2's `--setuid 0`), so the child sets it
    again with `setpriv` after the change. `net`: a network namespace of its own too (owned by
    the user namespace, if there is one)."""
    argv = [unshare]
    if userns is not None:
        argv += list(userns.unshare_flags)
    argv += ["--mount", "--propagation", "private"]
    if net:
        argv.append("--net")
    if not pid:
        return [*argv, "--"]
    return [*argv, "--pid", "--fork", "--kill-child", "--", setpriv, "--pdeathsig", "KILL", "--"]


def join_argv(
    nsenter: str,
    pid: int | str,
    userns: UserNs | None,
    *,
    keep_credentials: bool = False,
    net: bool = False,
) -> list[str]:
    """Enter a running box's mount namespace (and user namespace, for tiers 2 and 3).
    `keep_credentials`: stay who we are in the user namespace (bwrap then nests one of its
    own to be us), instead of becoming its root. `net`: its network namespace too (a box whose
    network is not the host's)."""
    argv = [nsenter, f"--target={pid}"]
    if userns is not None:
        argv += list(userns.join_flags)  # as its root: bwrap then sets the box up
        if keep_credentials and "--preserve-credentials" not in argv:
            argv.append("--preserve-credentials")
    return [*argv, "--mount", *(["--net"] if net else []), "--"]


@dataclass(frozen=True)
class Session:
    """One process tree in a box: what bwrap needs to set up around `argv`."""

    root: str  # the merged root, as seen where bwrap starts
    argv: tuple[str, ...]
    cwd: str
    binds: tuple[Bind, ...] = ()
    tmpfs: tuple[str, ...] = ()
    new_session: bool = True
    caps: tuple[str, ...] = ()  # what the command keeps (ROOT_CAPS, ALL_CAPS): none by default
    hostname: str = "devbox"  # in a UTS namespace of its own
    nested_uid: tuple[int, int] | None = None  # tier 3: be (uid, gid) in a nested namespace
    drop_to: tuple[int, int] | None = None  # tier 2: setpriv to (uid, gid) in the box
    seccomp_fd: int | None = None  # the seccomp filter (seccomp.py), tier 3 fake chown in it
    info_fd: int | None = None  # bwrap writes the session's init pid there (a service's runner)
    resolv_conf: str = "/etc/resolv.conf"  # the host file the box sees as its /etc/resolv.conf


def bwrap_argv(bwrap: str, s: Session) -> list[str]:
    argv = [bwrap]
    if s.nested_uid is not None:
        argv += ["--unshare-user", "--uid", str(s.nested_uid[0]), "--gid", str(s.nested_uid[1])]
    argv += ["--bind", s.root, "/", "--proc", "/proc", "--dev", "/dev"]
    argv += ["--ro-bind-try", "/sys", "/sys"]
    argv += ["--ro-bind-try", s.resolv_conf, "/etc/resolv.conf"]
    argv += ["--ro-bind-try", "/etc/hosts", "/etc/hosts"]
    for t in s.tmpfs:
        argv += ["--perms", "1777" if t == "/tmp" else "0755", "--tmpfs", t]
    made: set[str] = set()
    for b in s.binds:
        argv += _parents(b.dest, made)
        argv += b.argv()
    argv += ["--chdir", s.cwd, "--unshare-pid", "--unshare-uts", "--unshare-ipc"]
    argv += ["--hostname", s.hostname, "--die-with-parent"]
    if s.new_session:
        argv.append("--new-session")
    argv += _caps(s)
    if s.seccomp_fd is not None:
        argv += ["--seccomp", str(s.seccomp_fd)]
    if s.info_fd is not None:
        argv += ["--info-fd", str(s.info_fd)]
    command = list(s.argv)
    if s.drop_to is not None:
        uid, gid = s.drop_to
        command = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *command]
    return [*argv, "--", *command]


def _caps(s: Session) -> list[str]:
    """Every capability dropped but `caps`; setpriv (drop_to) gets what it needs to become the
    user, which then leaves it none: SETUID and SETGID, and DAC_OVERRIDE and DAC_READ_SEARCH,
    because bwrap enters the working directory before that (the user's own, which may be 0700)."""
    if s.caps == ALL_CAPS:
        return ["--cap-add", "ALL"]
    keep = list(s.caps)
    if s.drop_to is not None:
        keep += [c for c in DROP_TO_CAPS if c not in keep]
    argv = ["--cap-drop", "ALL"]
    for cap in keep:
        argv += ["--cap-add", cap]
    return argv


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
