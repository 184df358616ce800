""".devcontainer/devcontainer.json for a pushed box: VS Code, Codespaces and the devcontainer
CLI start the image with the working tree where the box has it.

The working tree is the box's to write, so `.devcontainer` is reached without following a link
(nofollow: a planted `.devcontainer -> /etc` is refused), the file is replaced atomically, and a
devcontainer.json that devbox did not write (no `customizations.devbox`) is kept unless --force.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.publish.boximage import BoxImage, extra_env

DIR = ".devcontainer"
FILE = "devcontainer.json"


def render(img: BoxImage) -> dict[str, Any]:
    """The devcontainer.json (plain JSON: no comments, so any JSON reader takes it)."""
    doc: dict[str, Any] = {
        "name": img.box,
        "image": img.ref,
        "workspaceFolder": img.workdir,
        "workspaceMount": f"source=${{localWorkspaceFolder}},target={img.workdir},type=bind",
        "containerEnv": extra_env(img),
        # the box is entered as a shell, not by what the image runs: keep the container up
        "overrideCommand": True,
    }
    user = img.user.partition(":")[0] or "root"
    doc["containerUser"] = user
    doc["remoteUser"] = user
    # who wrote this file and from what: how a later run knows it may replace it
    doc["customizations"] = {"devbox": {"image": img.ref, "labels": dict(img.labels)}}
    return doc


def ours(data: bytes) -> bool:
    """Did devbox write this devcontainer.json?"""
    try:
        doc = json.loads(data)
    except ValueError:
        return False
    custom = doc.get("customizations") if isinstance(doc, dict) else None
    return isinstance(custom, dict) and isinstance(custom.get("devbox"), dict)


def write(project: Path, doc: dict[str, Any], *, force: bool) -> Path:
    """Write `doc` as PROJECT/.devcontainer/devcontainer.json; refuse a symlinked .devcontainer
    (or devcontainer.json), and a file devbox did not write unless `force`."""
    data = (json.dumps(doc, indent=2) + "\n").encode()
    root = nofollow.open_root(project)  # the user's own directory: trusted
    made = False
    try:
        try:
            dirfd = nofollow.open_dir(root, DIR)
        except FileNotFoundError:
            os.mkdir(DIR, 0o755, dir_fd=root)
            made = True
            dirfd = nofollow.open_dir(root, DIR)
        try:
            _replace(dirfd, project, data, force=force)
        finally:
            os.close(dirfd)
    except BaseException:
        if made:
            with contextlib.suppress(OSError):
                os.rmdir(DIR, dir_fd=root)
        raise
    finally:
        os.close(root)
    return project / DIR / FILE


def _replace(dirfd: int, project: Path, data: bytes, *, force: bool) -> None:
    try:
        old: bytes | None = nofollow.read_beneath(dirfd, FILE, limit=1 << 20)
    except FileNotFoundError:
        old = None
    if old is not None and not force and not ours(old):
        raise DevboxError(
            f"{project / DIR / FILE} was not written by devbox; it is kept",
            hint="--force replaces it",
        )
    nofollow.write_replace(dirfd, FILE, data)
