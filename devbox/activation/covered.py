"""What trust covers, read without following a symlink: the spec, devbox.lock, the setup inputs.

All three live in the project's working tree, which every box of the project can write: a box can
plant a symlink there. So each is opened with O_NOFOLLOW, and a setup input's path is walked one
component at a time under a directory fd; a symlink anywhere on the way is refused with a
DevboxError that says why. Inputs hash as plan.recipe.hash_inputs does (one sha256 per file,
keyed by its path in the project; a directory: every regular file under it).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

from devbox.errors import DevboxError, printable

MISSING = "missing"  # an input that does not exist (the build says so; trust only compares)
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_DIR = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_DIRECTORY


def linked(path: Path | str) -> DevboxError:
    """The refusal for a symlink where a project's own file should be."""
    return DevboxError(
        f"{printable(str(path))} is a symbolic link: devbox does not follow links in a project "
        "(a box can plant one in the working tree it writes)",
        hint="replace it with the file itself",
    )


def sha256(data: bytes) -> str:
    import hashlib  # here: `run` imports this module, and hashlib loads OpenSSL

    return hashlib.sha256(data).hexdigest()


def _read_fd(fd: int, shown: Path | str) -> bytes:
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise DevboxError(f"{printable(str(shown))} is not a regular file")
        return f.read()


def _open(name: str | Path, shown: Path | str, flags: int, dir_fd: int | None = None) -> int:
    """os.open without following a symlink: ELOOP (or, for a directory, a symlink found by
    lstat) becomes the `linked` refusal."""
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise linked(shown) from None
        if e.errno == errno.ENOTDIR and flags & os.O_DIRECTORY:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise linked(shown) from None
        raise


def read_file(path: Path) -> bytes | None:
    """The content of the regular file `path` (its last component not followed if a symlink);
    None when it does not exist."""
    try:
        fd = _open(path, path, _FILE)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DevboxError(f"cannot read {printable(str(path))}: {e.strerror or e}") from e
    return _read_fd(fd, path)


def read_spec(path: Path) -> bytes:
    """devbox.toml's content; a symlink or a missing file is a DevboxError."""
    data = read_file(path)
    if data is None:
        raise DevboxError(f"cannot read {printable(str(path))}: No such file or directory")
    return data


def lock_hash(lock: Path) -> str | None:
    """The lock's content hash, None when there is none."""
    data = read_file(lock)
    return None if data is None else sha256(data)


def input_hashes(project: Path, inputs: tuple[str, ...]) -> dict[str, str]:
    """{path in the project: sha256 or MISSING} for the setup inputs."""
    out: dict[str, str] = {}
    root = os.open(project, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for rel in inputs:
            parts = [p for p in PurePosixPath(rel).parts if p != "."]
            _entry(root, project, parts, out)
    finally:
        os.close(root)
    return dict(sorted(out.items()))


def _entry(root: int, project: Path, parts: list[str], out: dict[str, str]) -> None:
    fds: list[int] = []
    try:
        fd = root
        for i, part in enumerate(parts[:-1]):
            try:
                fd = _open(part, project.joinpath(*parts[: i + 1]), _DIR, dir_fd=fd)
            except (FileNotFoundError, NotADirectoryError):
                out["/".join(parts)] = MISSING
                return
            fds.append(fd)
        _hash(fd, parts[-1] if parts else ".", project, parts, out)
    finally:
        for f in fds:
            os.close(f)


def _hash(dir_fd: int, name: str, project: Path, parts: list[str], out: dict[str, str]) -> None:
    """Hash `name` (under dir_fd; at project/parts): a file, or every regular file under it."""
    shown = project.joinpath(*parts)
    key = "/".join(parts)
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        out[key] = MISSING
        return
    if stat.S_ISLNK(st.st_mode):
        raise linked(shown)
    if stat.S_ISREG(st.st_mode):
        out[key] = sha256(_read_fd(_open(name, shown, _FILE, dir_fd=dir_fd), shown))
    elif stat.S_ISDIR(st.st_mode):
        fd = _open(name, shown, _DIR, dir_fd=dir_fd)
        try:
            for child in sorted(os.listdir(fd)):
                _hash(fd, child, project, [*parts, child], out)
        finally:
            os.close(fd)
