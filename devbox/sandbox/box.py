"""What a box is: a project's spec over a stack of built layers, entered under a tier.

The first session starts the box's supervisor (start.py, supervisor.py), which mounts the overlay
in a mount namespace of its own and stays while sessions are inside (sessions.py counts them),
then lingers a while. Every session, first or not, enters that mount namespace with nsenter and
builds its own bwrap sandbox there on the one merged root (enter.py): two sessions never mount
the writable layer twice.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pwd
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devbox import nofollow, template
from devbox.errors import DevboxError
from devbox.plan.recipe import workdir_of
from devbox.sandbox import argv as sandbox
from devbox.sandbox import host, limits, xauth
from devbox.sandbox.host import Tier
from devbox.spec.model import Spec
from devbox.store import private
from devbox.store.layers import expand
from devbox.store.paths import ProjectPaths, Store


class Reporter(Protocol):
    """Where a box says what it does (the build display, devbox.build.progress.Display)."""

    verbose: bool

    def info(self, text: str) -> None: ...


@dataclass(frozen=True)
class Box:
    spec: Spec
    store: Store
    stack: tuple[str, ...]  # layer digests, bottom first
    tier: Tier = field(default_factory=lambda: Tier(1, 0, 0, "root"))

    @property
    def paths(self) -> ProjectPaths:
        return ProjectPaths(self.store.project_dir(self.spec.project))

    @functools.cached_property
    def image(self) -> dict[str, Any] | None:
        """An image base's description (LayerMeta.image: OS, Env, WorkingDir), else None."""
        if self.spec.base.kind == "debian" or not self.stack:
            return None
        try:
            data = json.loads(self.store.layer_meta(self.stack[0]).read_text())
        except (OSError, ValueError):
            return None
        image = data.get("image") if isinstance(data, dict) else None
        return image if isinstance(image, dict) else None

    @property
    def workdir(self) -> str:
        return workdir_of(self.spec, self.image)

    @property
    def image_env(self) -> list[str]:
        env = (self.image or {}).get("env")
        return [e for e in env if isinstance(e, str)] if isinstance(env, list) else []

    def roots(self) -> list[Path]:
        """The layer roots, top first, the writable layer included."""
        return [self.paths.upper] + [self.store.layer_rootfs(d) for d in reversed(self.lowers)]

    @property
    def lowers(self) -> list[str]:
        """The layers mounted below the writable one, bottom first: an image base brings its
        image's layers (read only for such a box: a Debian box's entry reads no meta)."""
        return expand(self.store, self.stack) if self.spec.base.kind == "oci" else list(self.stack)


def stack_ids(box: Box) -> str:
    """A digest of what the running box was mounted from: the layer directories (digest and
    inode of each: a layer built again under the same digest is a new directory), the shared
    binds (a new [shell].home or workdir needs a new mount), the limits in force and the box's
    own network."""
    binds = box_binds(box)
    ids = [repr([(b.src, b.dest, b.mode) for b in binds])]
    masks = store_masks(box, binds)
    if masks:
        ids.append(repr(masks))
    if held := limits.identity(held_limits(box)):  # nothing without [limits]
        ids.append(held)
    if box.spec.network != "host":  # its own network namespace, made by the supervisor
        ids.append(f"network {box.spec.network} {box.spec.ports!r}")
    for d in box.stack:
        try:
            st = os.stat(box.store.layer_dir(d))
            ids.append(f"{d} {st.st_dev}:{st.st_ino}")
        except OSError:
            ids.append(f"{d} missing")
    return hashlib.sha256("\n".join(ids).encode("utf-8", "surrogateescape")).hexdigest()


def held_limits(box: Box) -> limits.Enforcement:
    """How the box's [limits] are held on this host, in this tier (limits.py)."""
    key = limits.box_key(str(box.store.root), box.paths.root.name)
    return limits.plan(box.spec.limits, box.tier, key)


def running_ids(p: ProjectPaths) -> str:
    try:
        return p.stack_ids.read_text().strip()
    except OSError:
        return ""


def box_binds(box: Box) -> list[sandbox.Bind]:
    """The home, the working tree and devbox's rc files (with the host's CA bundle in them,
    sync_host_ca): the same for every session, so the supervisor mounts them once (box_fstab)."""
    spec, p = box.spec, box.paths
    _, host_home, _ = user()
    home_src = str(p.home) if spec.shell.home == "isolated" else host_home
    return [
        sandbox.Bind(home_src, host_home),
        sandbox.Bind(str(spec.project), box.workdir),
        sandbox.Bind(str(p.rc), sandbox.RC_DIR, "ro"),
    ]


CA_COPY = os.path.basename(sandbox.HOST_CA)
GIT_COPY = os.path.basename(sandbox.HOST_GITCONFIG)
# The copy replaces the box's system config for git (GIT_CONFIG_SYSTEM): it reads that first.
GIT_HEAD = b"[include]\n\tpath = /etc/gitconfig\n"
SUDO = template.fill(template.load(__file__, "sudo.sh.in"), {}).encode()


def sync_rc(box: Box) -> None:
    """What the host gives every session through the box's rc dir (read-only at RC_DIR; a
    running box sees a change at once): the CA bundle, the user's git config, a `sudo` that
    says how to be root in the box, and with [share] display the X11 display's cookie."""
    sync_host_ca(box)
    git = host_git_bytes(box)
    _put(box.paths.rc, "", GIT_COPY, None if git is None else GIT_HEAD + git)
    _put(box.paths.rc, os.path.basename(sandbox.RC_BIN), "sudo", SUDO, 0o755)
    display = xauth.parse_display(os.environ.get("DISPLAY", "")) if box.spec.share.display else None
    if display is not None:  # [share] display: this display's cookie alone (xauth.py)
        _put(box.paths.rc, "", xauth.copy_name(display), x11_cookie(box, display), 0o600)


def x11_cookie(box: Box, display: xauth.Display) -> bytes:
    """The Xauthority entries a box gets for `display` (none: an empty file)."""
    path = xauth.authority_file(os.environ, user()[1])
    if not os.path.lexists(path):
        return b""
    hint = "point XAUTHORITY at a file elsewhere"
    data = host_file_bytes(path, "Xauthority file", box.spec.project, box.store.root, hint)
    return xauth.cookie(data, display, socket.gethostname())


def git_files(box: Box) -> list[str]:
    """The user's git config files that a box gets a copy of: those that exist, when the box's
    home is its own (the host's home has them where git looks)."""
    if box.spec.shell.home != "isolated" or not box.spec.share.gitconfig:
        return []
    return [path for path in host.git_configs() if os.path.isfile(path)]


def git_env(box: Box) -> dict[str, str]:
    """Where git in the box finds the copy of the user's git config, if there is one."""
    return {"GIT_CONFIG_SYSTEM": sandbox.HOST_GITCONFIG} if git_files(box) else {}


def host_git_bytes(box: Box) -> bytes | None:
    """The user's git config files, one after the other (None: there are none to give)."""
    files = git_files(box)
    if not files:
        return None
    hint = "move it out of there, or set GIT_CONFIG_GLOBAL=/dev/null for devbox"
    p, store = box.spec.project, box.store.root
    return b"".join(host_file_bytes(f, "git config", p, store, hint) + b"\n" for f in files)


def _put(rc: Path, sub: str, name: str, data: bytes | None, mode: int = 0o644) -> None:
    """Make rc/sub/name hold `data` (None: be gone), following no symlink: root in a tier 2 or 3
    box (`--root`) can remount the rc dir writable and plant one."""
    private.mkdirs(rc)
    fd = nofollow.open_root(rc)
    try:
        if sub:
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISLNK(os.lstat(sub, dir_fd=fd).st_mode):
                    os.unlink(sub, dir_fd=fd)
            with contextlib.suppress(FileExistsError):
                os.mkdir(sub, 0o700, dir_fd=fd)
            rcfd, fd = fd, nofollow.open_dir(rc, sub)
            os.close(rcfd)
        if data is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=fd)
            return
        with contextlib.suppress(OSError, DevboxError):
            same = nofollow.read_beneath(fd, name) == data
            if same and os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode & 0o777 == mode:
                return
        nofollow.write_replace(fd, name, data, mode)
    finally:
        os.close(fd)


def sync_host_ca(box: Box) -> None:
    """Copy the host's CA bundle (host.ca_bundle) into the box's rc dir, which every session
    sees read-only at RC_DIR: the file's content alone, not its directory. A running box sees a
    new copy at once."""
    _put(box.paths.rc, "", CA_COPY, host_ca_bytes(box.spec.project, box.store.root))


def host_ca_bytes(project: Path, store_root: Path) -> bytes | None:
    """The content of the host's CA bundle, None when boxes do not get one."""
    bundle = host.ca_bundle()
    if bundle is None:
        return None
    hint = "point SSL_CERT_FILE at a bundle elsewhere, or set DEVBOX_HOST_CA=0"
    return host_file_bytes(bundle, "CA bundle", project, store_root, hint)


def host_file_bytes(path: str, what: str, project: Path, store_root: Path, hint: str) -> bytes:
    """The content of a host file that boxes get a copy of. Refused when it lies where a box can
    write (the project, the store): the host never reads a path a box can replace."""
    real = os.path.realpath(path)
    # the file, and the link to it (a box can plant one in the project that leads out of it)
    named = os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))), "")
    for inside in (str(project), str(store_root)):
        top = os.path.realpath(inside).rstrip("/") + "/"
        if real.startswith(top) or named.startswith(top):
            msg = f"the {what} {path} is inside {inside}, which a box can write"
            raise DevboxError(msg, hint=hint)
    try:
        return nofollow.read_file(real)
    except OSError as e:
        raise DevboxError(f"cannot read the {what} {path}: {e.strerror or e}", hint=hint) from e


def write_new(path: Path, data: bytes) -> None:
    """Replace `path` with a new file (mode 0644) holding `data`, following no symlink."""
    private.mkdirs(path.parent)
    nofollow.write_replace(path.parent, path.name, data)


def store_masks(box: Box, binds: list[sandbox.Bind]) -> list[str]:
    """Where the store would show in the box through a bind whose source holds it (`[shell]
    home = "host"` with the store in the home, a working tree that holds the store): covered
    with an empty read-only tmpfs, so no session reaches the layers, the caches other builds
    trust, or other projects."""
    store = Path(os.path.realpath(box.store.root))
    out: list[str] = []
    for b in binds:
        src = Path(os.path.realpath(b.src))
        if store.is_relative_to(src):
            rel = store.relative_to(src)
            dest = b.dest.rstrip("/") + ("" if rel == Path(".") else f"/{rel}")
            if dest not in out:
                out.append(dest or "/")
    return out


def user() -> tuple[str, str, str]:
    """(name, home, login shell) of the invoking user; $HOME wins, as for any program."""
    try:
        pw = pwd.getpwuid(os.getuid())
        name, home, shell = pw.pw_name, pw.pw_dir, pw.pw_shell
    except KeyError:
        name, home, shell = os.environ.get("USER", "user"), "/", "/bin/sh"
    home = os.environ.get("HOME") or home
    return name, os.path.abspath(home), shell
