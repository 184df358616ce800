"""The store and the state dir are the user's alone: owned by them, 0700 dirs and 0600 files.

What another user can write, devbox must not run or trust: a shared DEVBOX_HOME another user made
first, or one anyone can write, could hold a planted launcher. So the roots are checked when
devbox opens them (owner and mode), and everything devbox makes in them is made private. A store
an older devbox made under umask 022 (0755 dirs, 0644 files) is the user's own: its modes are
tightened silently. Layer contents keep their modes: only the dirs devbox makes around them are
its to decide (and the writable layer's root, which is the box's `/`).

The sh front, shims and launchers cannot read modes without a fork: they check owners only
(`[ -O ]`), which suffices once this module made and checked the modes (see front.sh).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from devbox.errors import DevboxError

DIR_MODE = 0o700
FILE_MODE = 0o600
_checked: set[str] = set()  # roots checked by this process
# What an older devbox made in a root it left readable by others (globs under it), tightened
# once, when the root is: not the layers' contents, nor the writable layer (its root dir is the
# box's `/`), nor what the box home holds, nor a state dir inside the store (checked as a root).
STORE_MADE = (
    *("*", "locks/*", "logs/*", "resolved/*", "projects/*", "projects/*/*", "projects/*/run/*"),
    *("projects/*/launcher.d/*", "projects/*/launcher.d/*/*"),
)
STATE_MADE = ("*", "*/*", "shims/*/*", "shims/*/.verified/*")
NOT_MADE = frozenset({"upper", "work", "merged", "state"})
INDEX = "by-path"  # the store's index: every directory in it (fastpath.BY_PATH)


def _who(uid: int) -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def mkdirs(path: Path) -> Path:
    """`mkdir -p` whose new directories are 0700; an existing one of ours is tightened to 0700."""
    missing: list[Path] = []
    p = path
    while not os.path.lexists(p):
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            pass
    if not missing:
        tighten(path)
    return path


def tighten(path: Path, private: int = DIR_MODE) -> None:
    """Take group and other permissions away from a file or dir of ours (`private`: the bits
    kept; not following a symlink; someone else's is left alone)."""
    try:
        st = os.lstat(path)
    except OSError:
        return
    if st.st_uid == os.geteuid() and not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
        os.chmod(path, stat.S_IMODE(st.st_mode) & private)


def _tighten_made(root: Path, made: tuple[str, ...]) -> None:
    for pattern in made:
        for p in root.glob(pattern):
            if p.name not in NOT_MADE and not p.is_symlink():
                tighten(p, DIR_MODE)
    if made and (root / INDEX).is_dir():
        for dirpath, _, _ in os.walk(root / INDEX):
            tighten(Path(dirpath))


def check_root(path: Path, what: str, made: tuple[str, ...] = ()) -> Path:
    """Open one of devbox's roots (the store, the state dir): made 0700 if missing, refused if
    it is not the user's or others can write it; if others can read it (an older devbox's),
    tightened to 0700 with what devbox made in it (the globs `made`)."""
    key = str(path)
    if key in _checked:
        return path
    if not os.path.lexists(path):
        mkdirs(path)
    try:
        link = os.lstat(path)
        st = os.stat(path)
    except OSError as e:
        raise DevboxError(f"cannot open the devbox {what} {path}: {e.strerror or e}") from e
    me = os.geteuid()
    other = "choose a directory of your own instead (set DEVBOX_HOME)"
    if stat.S_ISLNK(link.st_mode) and link.st_uid not in (me, 0):
        raise DevboxError(
            f"the devbox {what} {path} is a symlink owned by {_who(link.st_uid)}, not by you",
            hint=other,
        )
    if not stat.S_ISDIR(st.st_mode):
        raise DevboxError(f"the devbox {what} {path} is not a directory", hint=other)
    if st.st_uid != me:
        raise DevboxError(
            f"the devbox {what} {path} is owned by {_who(st.st_uid)}, not by you ({_who(me)}): "
            "devbox runs nothing from a store another user could have planted things in",
            hint=other,
        )
    if st.st_mode & 0o022:
        raise DevboxError(
            f"the devbox {what} {path} is writable by others (mode {stat.S_IMODE(st.st_mode):o}):"
            " anything in it may have been planted",
            hint=f"if nothing in it was planted, `chmod 700 {path}`; or {other}",
        )
    if st.st_mode & 0o077:
        os.chmod(path, DIR_MODE)
        _tighten_made(path, made)
    _checked.add(key)
    return path
