"""What a box is: a project's spec over a stack of built layers, entered under a tier.

The first session starts the box's supervisor (start.py, supervisor.py), which mounts the overlay
in a mount namespace of its own and stays while sessions are inside (sessions.py counts them),
then lingers a while. Every session, first or not, enters that mount namespace with nsenter and
builds its own bwrap sandbox there on the one merged root (enter.py): two sessions never mount
the writable layer twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.plan.recipe import workdir_of
from devbox.sandbox import argv as sandbox
from devbox.sandbox import host
from devbox.sandbox.host import Tier
from devbox.spec.model import Spec
from devbox.store import private
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

    def roots(self) -> list[Path]:
        """The layer roots, top first, the writable layer included."""
        return [self.paths.upper] + [self.store.layer_rootfs(d) for d in reversed(self.stack)]


def stack_ids(box: Box) -> str:
    """A digest of what the running box was mounted from: the layer directories (digest and
    inode of each: a layer built again under the same digest is a new directory) and the shared
    binds (a new [shell].home or workdir needs a new mount)."""
    binds = box_binds(box)
    ids = [repr([(b.src, b.dest, b.mode) for b in binds])]
    masks = store_masks(box, binds)
    if masks:
        ids.append(repr(masks))
    for d in box.stack:
        try:
            st = os.stat(box.store.layer_dir(d))
            ids.append(f"{d} {st.st_dev}:{st.st_ino}")
        except OSError:
            ids.append(f"{d} missing")
    return hashlib.sha256("\n".join(ids).encode("utf-8", "surrogateescape")).hexdigest()


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
        sandbox.Bind(str(spec.project), workdir_of(spec)),
        sandbox.Bind(str(p.rc), sandbox.RC_DIR, "ro"),
    ]


CA_COPY = os.path.basename(sandbox.HOST_CA)


def sync_host_ca(box: Box) -> None:
    """Copy the host's CA bundle (host.ca_bundle) into the box's rc dir, which every session
    sees read-only at RC_DIR: the file's content alone, not its directory. A running box sees a
    new copy at once."""
    copy = box.paths.rc / CA_COPY
    data = host_ca_bytes(box.spec.project, box.store.root)
    if data is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(copy)
        return
    with contextlib.suppress(OSError, DevboxError):
        if nofollow.read_file(copy) == data:
            return
    write_new(copy, data)


def host_ca_bytes(project: Path, store_root: Path) -> bytes | None:
    """The content of the host's CA bundle, None when boxes do not get one. Refused when the
    bundle lies where a box can write (the project, the store): the host never reads a path a
    box can replace."""
    bundle = host.ca_bundle()
    if bundle is None:
        return None
    real = os.path.realpath(bundle)
    for inside in (str(project), str(store_root)):
        top = os.path.realpath(inside).rstrip("/") + "/"
        if real.startswith(top):
            raise DevboxError(
                f"the CA bundle {bundle} is inside {inside}, which a box can write",
                hint="point SSL_CERT_FILE at a bundle elsewhere, or set DEVBOX_HOST_CA=0",
            )
    try:
        return nofollow.read_file(real)
    except OSError as e:
        raise DevboxError(
            f"cannot read the CA bundle {bundle}: {e.strerror or e}",
            hint="set DEVBOX_HOST_CA=0 to enter without the host's CA bundle",
        ) from e


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
