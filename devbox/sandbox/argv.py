"""Pure argv builders for the sandbox: overlay options, bwrap, nsenter, builds (the box
supervisor is supervisor.py).

Nothing here runs anything; every function is golden-tested. The privilege tier (the uid map)
is a parameter (`UserNs`), not an assumption: tier 1 (host root) passes None.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


BUILD_OUT = "/tmp/devbox-out"
APT_ARCHIVES = "/var/cache/apt/archives"
APT_LISTS = "/var/lib/apt/lists"


@dataclass(frozen=True)
class Bind:
    src: str
    dest: str
    mode: str = "rw"  # "rw" | "ro" | "ro-try"

    def argv(self) -> list[str]:
        flag = {"rw": "--bind", "ro": "--ro-bind", "ro-try": "--ro-bind-try"}[self.mode]
        return [flag, self.src, self.dest]


@dataclass(frozen=True)
class UserNs:
    """How unshare(1) maps ids for tiers 2 and 3 (None everywhere means tier 1, host root)."""

    unshare_flags: tuple[str, ...]
    # nsenter into it: tier 2 becomes its root (setuid 0); in tier 3 the user already maps to
    # its root and setgroups is denied there, so credentials are kept as they are
    join_flags: tuple[str, ...] = ("--user",)


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


def unshare_argv(unshare: str, userns: UserNs | None, *, pid: bool = False) -> list[str]:
    argv = [unshare]
    if userns is not None:
        argv += list(userns.unshare_flags)
    argv += ["--mount", "--propagation", "private"]
    if pid:  # and everything in it dies with unshare (which dies with devbox: PDEATHSIG)
        argv += ["--pid", "--fork", "--kill-child"]
    return [*argv, "--"]


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


# A build step: mount the layer being built over the layers below it, run the step in bwrap.
BUILD_SCRIPT = r"""set -eu
cd "$1"
mount -t overlay devbox-build -o "$2" "$3"
merged=$3
cleanup=$4
shift 4
rc=0
"$@" || rc=$?
if [ -n "$cleanup" ]; then
  printf '%s\n' "$cleanup" | while IFS= read -r d; do rmdir "$merged/$d" 2>/dev/null || :; done
fi
exit "$rc"
"""


def build_argv(
    unshare: str,
    userns: UserNs | None,
    store_root: str,
    options: str,
    merged: str,
    bwrap_cmd: Sequence[str],
    rmdirs: Sequence[str] = (),
) -> list[str]:
    """`rmdirs`: mount points bwrap made in the new layer (merged-relative, deepest first),
    removed through the overlay after the step, so they do not end up in the layer."""
    return [
        *unshare_argv(unshare, userns, pid=True),
        "/bin/sh", "-c", BUILD_SCRIPT, "devbox-build",
        store_root, options, merged, "\n".join(rmdirs), *bwrap_cmd,
    ]  # fmt: skip


def apt_script(
    packages: Sequence[str],
    out: str = BUILD_OUT,
    *,
    sandbox_root: bool = False,
    pins: Mapping[str, str] | None = None,
    cached_lists: bool = False,
) -> str:
    """What runs in the box to build an apt layer. Lists and .debs live in bind-mounted caches,
    so they never land in the layer. With `pins` (from devbox.lock) every pinned package is
    installed at exactly its version; versions the archive does not have are listed in
    OUT/unavailable and the script fails (status 3) before installing anything.
    `cached_lists`: the suite's lists are already in the cache (the base's bootstrap leaves them
    there): use them, and update only when they do not have or fetch what is asked for."""
    opts = (
        "-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Keep-Downloaded-Packages=true"
    )
    if sandbox_root:  # tier 3: apt cannot drop to _apt in a single-uid namespace
        opts += " -o APT::Sandbox::User=root"
    update = f"apt-get {opts} -q update"
    args = list(packages)
    steps: list[str] = []
    if pins:
        pinned = [f"{name}={version}" for name, version in sorted(pins.items())]
        requested = {p.split("=", 1)[0] for p in packages}
        args = pinned + [p for p in packages if p.split("=", 1)[0] not in pins]
        q_out = shlex.quote(out)
        check = [
            f"rm -f {q_out}/unavailable",
            f"for p in {' '.join(shlex.quote(p) for p in pinned)}; do",
            f'  found="$(apt-cache {opts} show -- "$p" 2>/dev/null)" || found=',
            f'  [ -n "$found" ] || echo "$p" >> {q_out}/unavailable',
            "done",
        ]
        steps += check
        if cached_lists:
            steps += [f"if [ -s {q_out}/unavailable ]; then", f"  {update}", *check, "fi"]
        steps += [
            f"if [ -s {q_out}/unavailable ]; then",
            f"  echo 'devbox: the archive does not have:'; cat {q_out}/unavailable; exit 3",
            "fi",
        ]
    pkgs = " ".join(shlex.quote(p) for p in args)
    install = f"apt-get {opts} -q -y --no-install-recommends install -- {pkgs}"
    if cached_lists:
        steps += [
            f"if ! {install}; then",
            "  echo 'devbox: the cached package lists did not do; updating them'",
            f"  {update}",
            f"  {install}",
            "fi",
        ]
    else:
        steps = [update, *steps, install]
    if pins:
        auto = sorted(set(pins) - requested)
        if auto:
            steps.append(
                f"apt-mark {opts} auto -- {' '.join(shlex.quote(p) for p in auto)} >/dev/null"
            )
    return "\n".join(
        ["set -eu", "export DEBIAN_FRONTEND=noninteractive", *steps, packages_query(out)]
    )


def setup_script(steps: Sequence[str], workdir: str, out: str = BUILD_OUT) -> str:
    lines = ["set -eu", f"cd {shlex.quote(workdir)}"]
    for i, step in enumerate(steps, 1):
        lines.append(f"echo {shlex.quote(f'devbox: setup step {i}/{len(steps)}: {step}')}")
        lines.append(f"/bin/sh -c {shlex.quote(step)}")
    lines.append(packages_query(out))
    return "\n".join(lines)


def packages_query(out: str) -> str:
    fmt = r"${Package}\t${Version}\t${Architecture}\n"
    return f"dpkg-query -W -f '{fmt}' > {shlex.quote(out)}/packages.tsv"


# Tier 3: devpts cannot be mounted with gid=5 in a single-uid namespace, and device nodes
# cannot be made; bind the host's few device nodes into the chroot for the bootstrap instead.
_DEVS = "null zero full random urandom tty"
_BIND_DEVS = (
    f'for f in {_DEVS}; do rm -f "$1/dev/$f"; touch "$1/dev/$f"; '
    'mount --bind "/dev/$f" "$1/dev/$f"; done'
)
_UNBIND_DEVS = f'for f in {_DEVS}; do umount "$1/dev/$f"; rm -f "$1/dev/$f"; done'


def mmdebstrap_argv(
    mmdebstrap: str,
    suite: str,
    target: str,
    mirror: str,
    cache: str,
    out: str,
    *,
    single_uid: bool = False,
    lists: str | None = None,
) -> list[str]:
    """A minbase bootstrap; .debs are synced in from and out to a per-suite cache, and
    apt's lists out to `lists` (so apt layers on this suite need no `apt-get update`).
    mmdebstrap runs as (namespace) root in our own namespace, so the layer gets our uid map."""
    fmt = r"${Package}\t${Version}\t${Architecture}\n"
    q = shlex.quote
    argv = [
        mmdebstrap, "--variant=minbase", "--mode=root", "--skip=essential/unlink",
        '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
        f"--setup-hook=sync-in {q(cache)} /var/cache/apt/archives/",
    ]  # fmt: skip
    if single_uid:
        argv += [
            "--skip=chroot/mount/dev",
            '--aptopt=APT::Sandbox::User "root"',
            '--setup-hook=mkdir -p "$1/dev"',
            f"--extract-hook={_BIND_DEVS}",
        ]
    argv += [
        f"--customize-hook=sync-out /var/cache/apt/archives {q(cache)}",
        *([f"--customize-hook=sync-out /var/lib/apt/lists {q(lists)}"] if lists else []),
        f"--customize-hook=chroot \"$1\" dpkg-query -W -f '{fmt}' > {q(out)}/packages.tsv",
    ]
    if single_uid:
        argv.append(f"--customize-hook={_UNBIND_DEVS}")
    return [*argv, suite, target, mirror]
