"""The project registry: which projects use which layers (for gc, ls and status), and the
by-path index of their launchers."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from devbox.fastpath import BY_PATH, INDEX_ENTRY
from devbox.store import private
from devbox.store.paths import Store, launcher_index


def register_project(
    store: Store, project: Path, name: str, stack: list[str], **extra: str
) -> None:
    """Record which layers a project uses (and its uid map and apt cache), for gc and ls."""
    pdir = store.project_dir(project)
    private.mkdirs(store.projects)
    private.mkdirs(pdir)
    info = {"path": str(project), "name": name, "stack": stack, "updated": time.time(), **extra}
    tmp = pdir / "project.json.new"
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, pdir / "project.json")


def read_project(store: Store, project: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((store.project_dir(project) / "project.json").read_text())
        return data
    except (OSError, ValueError):
        return None


def write_index(project: Path, store_root: Path, launcher: Path) -> bool:
    """Point the project's by-path index entry (paths.launcher_index) at its launcher, replacing
    it atomically. Best effort: without an entry, the `devbox` front takes the Python path,
    which finds the launcher by hashing. False if the entry could not be written."""
    entry = launcher_index(project, store_root)
    target = str(launcher.absolute())  # not normalised: `..` is for the kernel to resolve
    with contextlib.suppress(OSError):  # 0700 (an older devbox's 0755 tightened)
        private.mkdirs(store_root / BY_PATH)
        private.mkdirs(entry.parent)
    with contextlib.suppress(OSError):
        if os.readlink(entry) == target:
            return True
    tmp = entry.with_name(f"{INDEX_ENTRY}.{os.getpid()}.new")
    for _ in range(3):  # a gc may remove the empty directory just made: make it again
        try:
            private.mkdirs(entry.parent)
            tmp.unlink(missing_ok=True)
            os.symlink(target, tmp)
            os.replace(tmp, entry)
            return True
        except FileNotFoundError:
            continue
        except OSError:  # e.g. a project path with a component named .launcher
            break
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)
    return False


def drop_index(project: Path, store_root: Path) -> None:
    """Remove the project's by-path index entry, if it is one (a symlink)."""
    entry = launcher_index(project, store_root)
    with contextlib.suppress(OSError):
        if entry.is_symlink():
            entry.unlink()


def drop_dangling_index(store: Store) -> int:
    """Remove the by-path index entries (and writers' leftover temp links) whose launcher is
    gone, then the directories that leaves empty (gc). Returns how many entries went."""
    n = 0
    root = store.by_path
    if not root.is_dir():
        return 0
    for dirpath, _, filenames in os.walk(root, topdown=False):
        for name in filenames:
            entry = os.path.join(dirpath, name)
            if os.path.islink(entry) and not os.path.exists(entry):
                with contextlib.suppress(OSError):
                    os.unlink(entry)
                    n += 1
        if dirpath != str(root):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)  # only if empty
    return n


def registered(st: Store) -> list[tuple[Path, dict[str, Any]]]:
    """Every registered project: its directory in the store and its record ({} if unreadable)."""
    out = []
    if st.projects.is_dir():
        for d in sorted(st.projects.iterdir()):
            try:
                out.append((d, json.loads((d / "project.json").read_text())))
            except (OSError, ValueError):
                out.append((d, {}))
    return out
