"""A service's data: `.devbox/data/NAME` in the directory of the box it runs in (the project's
own, or `box = "services/db"`'s), `DEVBOX_DATA` in the service's env. That directory is the
box's to write, so the host makes and deletes it without following a link: each component is
opened under a dir fd with O_NOFOLLOW (devbox.nofollow), a symlink or non-directory on the way is
refused, and deleting removes a symlink in the tree, never what it names."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.spec.services import SERVICE_NAME_RE
from devbox.store import fs

if TYPE_CHECKING:
    from devbox.sandbox.host import Tier

DATA_DIR = ".devbox/data"
GITIGNORE = b"*\n"  # nothing under .devbox/ is the project's source
DIR_MODE = 0o755  # .devbox and .devbox/data
DATA_MODE = 0o700  # .devbox/data/NAME: a service's data is its own (postgres insists)


def data_rel(name: str) -> str:
    """`.devbox/data/NAME`, relative to the directory of the service's box."""
    if not SERVICE_NAME_RE.fullmatch(name):
        raise DevboxError(f'"{name}" is not a service name', hint="see [services] in devbox.toml")
    return f"{DATA_DIR}/{name}"


def ensure_data(box_project: Path, name: str, *, project: Path | None = None) -> None:
    """Make `.devbox/data/NAME` beneath `box_project` (and `.devbox/.gitignore`, `*`, if it is
    not a file) where missing, following no link. With `project` (the main project, holding
    `box_project`), the path from `project` down is walked no-follow too: a box can write it."""
    rel = data_rel(name)
    root, prefix = _base(box_project, project)
    where = box_project / rel
    try:
        os.close(nofollow.open_dir(root, prefix))  # the box's directory is there: not made
        os.close(nofollow.open_dir(root, _join(prefix, DATA_DIR), make=DIR_MODE))
        os.close(nofollow.open_dir(root, _join(prefix, rel), make=DATA_MODE))
        where = box_project / ".devbox/.gitignore"
        fd = nofollow.open_dir(root, _join(prefix, ".devbox"))
        try:
            _gitignore(fd, str(where))
        finally:
            os.close(fd)
    except OSError as e:
        raise DevboxError(
            f"cannot make {where}: {e.strerror or e}",
            hint=f"{name}'s data lives in {rel} there (DEVBOX_DATA); make it a directory you "
            "can write",
        ) from None


def remove_data(
    box_project: Path, name: str, remover_tier: Tier | None = None, *, project: Path | None = None
) -> bool:
    """Delete `.devbox/data/NAME` beneath `box_project`, never following a link (a symlink in
    it is removed, not followed; a symlinked `.devbox` or `data` is refused). In tier 2 the
    files a box made belong to subordinate ids: `rm -rf` in the tier's user namespace deletes
    them first, reaching the directory through an fd devbox opened (/proc/self/fd/N), never by
    path; then what is left is deleted here. False if it was not there."""
    rel = data_rel(name)
    root, prefix = _base(box_project, project)
    where = box_project / rel
    try:
        try:
            dfd = nofollow.open_dir(root, _join(prefix, DATA_DIR))
        except FileNotFoundError:
            return False
        try:
            try:
                os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                return False
            if remover_tier is not None and remover_tier.level == 2:
                _remove_in_namespace(remover_tier, dfd, name)
        finally:
            os.close(dfd)
        fs.remove_beneath(root, _join(prefix, rel))
    except PermissionError as e:
        raise DevboxError(
            f"cannot delete {where}: {e.strerror or e}",
            hint=f"the box made files there devbox may not delete; delete them in the box: "
            f"devbox run --root -- rm -rf {rel}",
        ) from None
    except OSError as e:
        raise DevboxError(f"cannot delete {where}: {e.strerror or e}") from None
    return True


def _remove_in_namespace(tier: Tier, dfd: int, name: str) -> None:
    """rm -rf NAME under the open directory `dfd`, as root of the tier's user namespace (which
    may delete files of the subordinate ids). Its failure is not an error here: the deletion
    that follows says what could not be deleted."""
    from devbox.sandbox import host

    unshare = host.which("unshare")
    if tier.userns is None or unshare is None:
        return
    target = f"/proc/self/fd/{dfd}/{name}"  # rm's own fd: the directory devbox opened
    argv = [unshare, *tier.userns.unshare_flags, "--", "rm", "-rf", "--one-file-system", "--"]
    host.run_captured([*argv, target], timeout=600, pass_fds=(dfd,))


def _gitignore(dirfd: int, path: str) -> None:
    """`.devbox/.gitignore` holding `*`, unless a file is there already. Anything else there (a
    symlink, a FIFO) is replaced by a rename, never opened; a directory is refused."""
    try:
        st = os.stat(".gitignore", dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        return
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise nofollow.refused(path, "a directory")
    nofollow.write_replace(dirfd, ".gitignore", GITIGNORE)


def _base(box_project: Path, project: Path | None) -> tuple[Path, str]:
    """Where the no-follow walk starts (a directory devbox trusts) and the path below it."""
    if project is None or box_project == project:
        return box_project, ""
    try:
        below = box_project.relative_to(project)
    except ValueError:
        raise DevboxError(f"{box_project} is not inside the project {project}") from None
    return project, below.as_posix()


def _join(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}" if prefix else rel
