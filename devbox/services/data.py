"""A service's data dir, .devbox/data/NAME in its box's directory (a stand-in until the data
lane's module lands: made and removed without following a link)."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from devbox import nofollow

DATA_DIR = ".devbox/data"


def data_rel(name: str) -> str:
    return f"{DATA_DIR}/{name}"


def ensure_data(box_project: Path, name: str) -> None:
    fd = nofollow.open_root(box_project)
    try:
        for part in data_rel(name).split("/"):
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            nfd = os.open(part, nofollow.DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)
    d = nofollow.open_dir(box_project, ".devbox")
    try:
        if ".gitignore" not in os.listdir(d):
            nofollow.write_replace(d, ".gitignore", b"*\n", 0o644)
    finally:
        os.close(d)


def remove_data(box_project: Path, name: str) -> bool:
    try:
        fd = nofollow.open_dir(box_project, DATA_DIR)
    except FileNotFoundError:
        return False
    try:
        if name not in os.listdir(fd):
            return False
        shutil.rmtree(name, dir_fd=fd)
        return True
    finally:
        os.close(fd)
