"""What the host has: the tools devbox drives, and which privilege tier this user gets.

Tiers (docs/design/tiers.md): 1 host root, no user namespace; 2 an unprivileged user with a
subuid/subgid range, the full range mapped through newuidmap/newgidmap; 3 an unprivileged user
without one, a single-uid namespace plus a seccomp filter that fakes chown/setuid.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devbox.errors import HostError
from devbox.store.fs import Remover, remove_tree

# tool -> (Debian package, what it is for)
TOOLS = {
    "bwrap": ("bubblewrap", "the sandbox"),
    "mmdebstrap": ("mmdebstrap", "building debian:<suite> bases"),
    "unshare": ("util-linux", "namespaces"),
    "nsenter": ("util-linux", "joining a running box"),
    "flock": ("util-linux", "starting and stopping a box one at a time"),
    "setpriv": ("util-linux", "ending a build's tools when devbox ends"),
    "dd": ("coreutils", "seeing whether a session is in a box before it stops"),
    "mount": ("mount", "overlay mounts"),
    "newuidmap": ("uidmap", "mapping your subuid range (tier 2)"),
    "newgidmap": ("uidmap", "mapping your subgid range (tier 2)"),
}
MIN_RANGE = 65536


@dataclass(frozen=True)
class UserNs:
    """How unshare(1) maps ids for tiers 2 and 3 (None everywhere means tier 1, host root)."""

    unshare_flags: tuple[str, ...]
    # nsenter into it: tier 2 becomes its root (setuid 0); in tier 3 the user already maps to
    # its root and setgroups is denied there, so credentials are kept as they are
    join_flags: tuple[str, ...] = ("--user",)


def which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def tool(name: str) -> str:
    path = which(name)
    if path is None:
        pkg, purpose = TOOLS.get(name, (name, name))
        raise HostError(
            f"`{name}` is not installed; devbox needs it for {purpose}",
            hint=f"install it: sudo apt-get install {pkg}   (`devbox doctor` checks the rest)",
        )
    return path


def end_session(pid: int) -> None:
    """Kill what a tool started with start_new_session=True left behind in its session: when
    util-linux unshare cannot make a user namespace, its newuidmap helper child is orphaned
    and waits forever, holding whatever pipes it inherited."""
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def remover_for(
    userns_flags: tuple[str, ...] | None,
    unshare: str | None,
    run: Callable[[list[str]], tuple[int, str]] | None = None,
) -> Remover:
    """How to delete trees for a tier: files owned by subuids can only be removed from inside
    the user namespace that maps them (as its root), so tier 2 removes there first. `run`
    runs a namespace tool (host.run_captured)."""
    if not userns_flags or unshare is None or run is None:
        return remove_tree

    def remove(path: Path) -> None:
        if path.exists() and not path.is_symlink():
            run([unshare, *userns_flags, "--", "rm", "-rf", "--one-file-system", "--", str(path)])
        remove_tree(path)

    return remove


def remover(tier: Tier) -> Remover:
    """How this tier deletes trees: tier 2 from inside its user namespace (subuid-owned
    files), the others directly."""
    flags = tier.userns.unshare_flags if tier.level == 2 and tier.userns else None
    return remover_for(flags, which("unshare"), run_captured)


def run_captured(
    argv: list[str], timeout: float = 60, pass_fds: tuple[int, ...] = ()
) -> tuple[int, str]:
    """Run a namespace tool, returning (status, output). Output goes through a file, not a
    pipe, and the tool's whole session is killed afterwards: when util-linux unshare cannot
    make a user namespace, its newuidmap helper child is orphaned and would wait forever.
    `pass_fds` stay open in it (a directory it reaches as /proc/self/fd/N, never by path)."""
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, pass_fds=pass_fds,
            )  # fmt: skip
        except OSError as e:
            return 127, str(e)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = -1
        end_session(proc.pid)
        proc.wait()
        out.seek(0)
        return rc, out.read().decode(errors="replace").strip()


def sub_range(path: str, name: str, ident: int) -> tuple[int, int] | None:
    """The first range of at least MIN_RANGE ids for this user in /etc/subuid or /etc/subgid."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (name, str(ident)):
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if count >= MIN_RANGE:
            return start, count
    return None


@dataclass(frozen=True)
class Tier:
    level: int
    uid: int
    gid: int
    user: str
    subuid: tuple[int, int] | None = None
    subgid: tuple[int, int] | None = None

    @property
    def key(self) -> str:
        """Identifies the uid map a layer is built under: part of every layer digest, so a
        layer is never entered under another map (a changed map means new layers)."""
        if self.level == 1:
            return "root"
        if self.level == 2 and self.subuid and self.subgid:
            return f"sub:{self.uid}:{self.gid}:{self.subuid[0]}+{self.subgid[0]}"
        return f"single:{self.uid}:{self.gid}"

    @property
    def userns(self) -> UserNs | None:
        """unshare(1) flags that make this process root over the layers' ids."""
        if self.level == 1:
            return None
        if self.level == 2 and self.subuid and self.subgid:
            (su, nu), (sg, ng) = self.subuid, self.subgid
            flags: tuple[str, ...] = ("--user", f"--map-user={self.uid}", f"--map-group={self.gid}")
            flags += (f"--map-users={su},0,{min(nu, MIN_RANGE)}",)
            flags += (f"--map-groups={sg},0,{min(ng, MIN_RANGE)}",)
            return UserNs((*flags, "--setuid", "0", "--setgid", "0"))
        return UserNs(("--user", "--map-root-user"), ("--user", "--preserve-credentials"))

    @property
    def seccomp(self) -> bool:
        return self.level == 3

    def describe(self) -> str:
        return {
            1: "tier 1: root on the host; no user namespace",
            2: f"tier 2: user namespace with your subuid range {self.subuid} mapped",
            3: "tier 3: single-uid user namespace with a seccomp filter (no subuid range)",
        }[self.level]


def current_tier() -> Tier:
    """The tier of this process. DEVBOX_TIER=3 forces tier 3 for an unprivileged user."""
    uid, gid = os.getuid(), os.getgid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = os.environ.get("USER", str(uid))
    if os.geteuid() == 0:
        return Tier(1, 0, 0, user)
    subuid = sub_range("/etc/subuid", user, uid)
    subgid = sub_range("/etc/subgid", user, uid)
    forced = os.environ.get("DEVBOX_TIER", "")
    helpers = which("newuidmap") and which("newgidmap")
    if forced != "3" and subuid and subgid and helpers:
        return Tier(2, uid, gid, user, subuid, subgid)
    from devbox.sandbox import seccomp

    if not seccomp.supported():
        raise HostError(
            f"without a subuid range devbox needs its seccomp filter, which has no syscall table "
            f"for {os.uname().machine} yet",
            hint=f"give {user} a subuid/subgid range (tier 2): sudo usermod --add-subuids "
            f"{free_subid_range()} --add-subgids {free_subid_range()} {user}",
        )
    return Tier(3, uid, gid, user)


def free_subid_range() -> str:
    """A range of MIN_RANGE ids after every range in /etc/subuid and /etc/subgid."""
    end = 100000
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                end = max(end, int(parts[1]) + int(parts[2]))
    return f"{end}-{end + MIN_RANGE - 1}"


def userns_failure(output: str) -> HostError | None:
    """Turn unshare's complaint about user namespaces into what to change, if it is one."""
    low = output.lower()
    markers = ("unshare failed", "newuidmap", "newgidmap", "uid_map", "gid_map", "setgroups")
    if not any(m in low for m in markers):
        return None
    if "no space left on device" in low:
        why = "this system allows no more user namespaces (user.max_user_namespaces is 0)"
        fix = "sudo sysctl -w user.max_user_namespaces=15000"
    elif "newuidmap" in low or "newgidmap" in low:
        why = "newuidmap/newgidmap refused your subuid/subgid range"
        fix = (
            "check your ranges in /etc/subuid and /etc/subgid (`devbox doctor` suggests a "
            "free one), or use tier 3 with DEVBOX_TIER=3"
        )
    elif "operation not permitted" in low or "permission denied" in low:
        why = "unprivileged user namespaces are disabled (sysctl or AppArmor)"
        fix = (
            "sudo sysctl -w kernel.unprivileged_userns_clone=1 (Debian), or on Ubuntu 24.04+ "
            "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
        )
    else:
        why = "a user namespace could not be created"
        fix = "run `devbox doctor` for what is missing"
    detail = output.strip().splitlines()[-1] if output.strip() else ""
    return HostError(f"{why} ({detail})", hint=fix)


CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


def ca_bundle() -> str | None:
    """The host's CA bundle, which boxes trust too (so HTTPS works behind a TLS-inspecting
    proxy whose CA the host trusts). DEVBOX_HOST_CA=0 turns this off."""
    files = ca_files()
    return files[-1] if files and os.path.isfile(files[-1]) else None


def ca_files() -> list[str]:
    """The files ca_bundle looks at, in order, up to the one it takes (the launcher watches
    them all: a bundle that appears, changes or goes changes what the box trusts)."""
    if os.environ.get("DEVBOX_HOST_CA") == "0":
        return []
    out: list[str] = []
    for path in (os.environ.get("SSL_CERT_FILE", ""), *CA_BUNDLES):
        if path:
            out.append(path)
            if os.path.isfile(path):
                break
    return out


def git_configs() -> list[str]:
    """The files git reads as the user's global config, in its order (the launcher watches them
    all: one that appears, changes or goes changes what git in a box sees)."""
    if os.environ.get("GIT_CONFIG_GLOBAL"):
        return [os.environ["GIT_CONFIG_GLOBAL"]]
    home = os.environ.get("HOME") or ""
    xdg = os.environ.get("XDG_CONFIG_HOME") or (f"{home}/.config" if home else "")
    out = [f"{xdg}/git/config"] if xdg.startswith("/") else []
    return out + ([f"{home}/.gitconfig"] if home.startswith("/") else [])
