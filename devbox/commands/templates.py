"""The starters of `devbox init --template NAME`: `templates/NAME.toml` (a devbox.toml alone)
or `templates/NAME/` (a devbox.toml and the files beside it: an app, a service's box, its start
script). Every file gets the project's values for `{{name}}`, `{{base}}` and `{{python}}`, and
is written into the project without following a link: the working tree is the box's to write,
so a symlink the box planted there (or on the way) is refused, never written through."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.resources import data_dir
from devbox.spec.model import SPEC_NAME

SKIPPED = frozenset({"__pycache__", ".devbox"})  # what a checkout's templates may hold by use


@dataclass(frozen=True)
class File:
    rel: str  # beneath the project, `/`-separated
    data: bytes
    mode: int  # 0o755 if the template's file is executable, else 0o644


def templates_dir() -> Path:
    return data_dir("templates", "minimal.toml")


def names() -> list[str]:
    """Every template: the stem of each `templates/*.toml`, each directory with a devbox.toml."""
    root = templates_dir()
    found = {p.stem for p in root.glob("*.toml") if p.is_file()}
    found |= {p.name for p in root.iterdir() if (p / SPEC_NAME).is_file()}
    return sorted(found)


def fill(data: bytes, values: Mapping[str, str]) -> bytes:
    """`data` with each `{{KEY}}` of `values` replaced (a file that is not UTF-8: as it is)."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return data
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text.encode()


def render(template: str, values: Mapping[str, str]) -> list[File]:
    """The files of `template`, filled with `values`; devbox.toml first."""
    known = names()
    if template not in known:
        raise DevboxError(f"no template named {template!r}", hint="templates: " + ", ".join(known))
    root = templates_dir()
    single = root / f"{template}.toml"
    if single.is_file():
        return [File(SPEC_NAME, fill(single.read_bytes(), values), 0o644)]
    files = []
    for top, dirs, names_here in os.walk(root / template):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
        for name in sorted(names_here):
            path = Path(top, name)
            if name.endswith(".pyc") or not path.is_file():
                continue
            mode = 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644
            rel = path.relative_to(root / template).as_posix()
            files.append(File(rel, fill(path.read_bytes(), values), mode))
    return sorted(files, key=lambda f: (f.rel != SPEC_NAME, f.rel))


def exists(project: Path, rel: str) -> bool:
    """Whether the file `rel` is beneath `project` (a regular file); a symlink, or anything but a
    directory on the way, is refused."""
    head, _, name = rel.rpartition("/")
    try:
        dirfd = nofollow.open_dir(project, head)
    except FileNotFoundError:
        return False
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    finally:
        os.close(dirfd)
    if stat.S_ISLNK(st.st_mode):  # dangling or not: writing would go wherever it points
        raise DevboxError(
            f"{project / rel} is a symlink: devbox init does not write through it",
            hint="remove it, then run devbox init again",
        )
    if not stat.S_ISREG(st.st_mode):
        raise DevboxError(
            f"{project / rel} is in the way: the template writes a file there",
            hint="move it away, then run devbox init again",
        )
    return True


def write(project: Path, files: Sequence[File], *, force: bool) -> None:
    """Write `files` beneath `project`. Every target is checked first, so a refusal writes
    nothing: one that exists is kept unless `force`; then each file is made (its directories
    too) under dir fds, none followed, and renamed into place."""
    there = [f.rel for f in files if exists(project, f.rel)]
    if there and not force:
        if len(there) == 1:
            hint = "edit it, or pass --force to overwrite it"
            raise DevboxError(f"{project / there[0]} already exists", hint=hint)
        shown = ", ".join(there[:3]) + (f" and {len(there) - 3} more" if len(there) > 3 else "")
        hint = "edit them, or pass --force to overwrite them with the template's"
        raise DevboxError(f"files of the template already exist in {project}: {shown}", hint=hint)
    for f in files:
        head, _, name = f.rel.rpartition("/")
        dirfd = nofollow.open_dir(project, head, make=0o755)
        try:
            nofollow.write_replace(dirfd, name, f.data, f.mode)
        finally:
            os.close(dirfd)
