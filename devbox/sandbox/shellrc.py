"""`devbox shell`: which shell to start, and the small rc files that mark its prompt."""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Sequence
from pathlib import Path

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.sandbox.argv import RC_DIR
from devbox.store import private


def resolve(roots: Sequence[Path], path: str, _depth: int = 0) -> str | None:
    """Where `path` leads in the box whose layers (top first) are `roots`, following symlinks
    inside the box and honouring overlayfs whiteouts; None if it does not exist there."""
    if _depth > 20:
        return None
    parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
    cur = ""
    for i, name in enumerate(parts):
        candidate = f"{cur}/{name}"
        for root in roots:
            try:
                st = os.lstat(f"{root}{candidate}")
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None  # whiteout: deleted in this layer, whatever is below
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(f"{root}{candidate}")
                base = target if target.startswith("/") else f"{cur}/{target}"
                return resolve(roots, "/".join([base, *parts[i + 1 :]]), _depth + 1)
            break
        else:
            return None
        cur = candidate
    return cur or "/"


def box_has(roots: Sequence[Path], program: str) -> str | None:
    """The path of `program` in a box whose layers (top first) are `roots`, if it has it."""
    if program.startswith("/"):
        candidates = [program]
    else:
        candidates = [f"/usr/bin/{program}", f"/bin/{program}", f"/usr/local/bin/{program}"]
    for path in candidates:
        if resolve(roots, path) is not None:
            return path
    return None


def choose_program(requested: str | None, login_shell: str, roots: Sequence[Path]) -> str:
    """[shell].program if set; else the user's login shell if the box has it, else bash, else sh."""
    if requested:
        return requested
    for name in (os.path.basename(login_shell), "bash", "sh"):
        if name and box_has(roots, name):
            return name
    return "sh"


def mark(name: str) -> str:
    """What prefixes the prompt of a shell inside the box: not the shell hook's `(devbox:NAME)`
    on the host, so that the two are told apart at a glance (toolbox's hexagon)."""
    return f"\u2b22 {name} "


def rc_files(name: str) -> dict[str, str]:
    """Files for RC_DIR: each sources the user's own rc, then prefixes the prompt."""
    mark_ = mark(name)
    return {
        "bashrc": (
            f'[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"\nPS1="{mark_}${{PS1-\\u@\\h:\\w\\$ }}"\n'
        ),
        "zsh/.zshenv": 'ZDOTDIR="$HOME"; [ -f "$HOME/.zshenv" ] && . "$HOME/.zshenv"; ZDOTDIR='
        + RC_DIR
        + "/zsh\n",
        "zsh/.zshrc": (
            'ZDOTDIR="$HOME"\n'
            '[ -f "$HOME/.zshrc" ] && . "$HOME/.zshrc"\n'
            f'PROMPT="{mark_}${{PROMPT-%n@%m %~ %# }}"\n'
        ),
    }


def write_rc(rc_dir: Path, name: str) -> None:
    """Write the rc files into the store's rc dir, which sessions see read-only; but root in a
    tier 2 or 3 box (`--root`) can remount it writable, so nothing there is followed: a
    symlinked subdirectory is replaced, files are replaced, never written through."""
    for rel, text in rc_files(name).items():
        head, _, base = rel.rpartition("/")
        sub = rc_dir / head if head else rc_dir
        if sub.is_symlink():
            sub.unlink()
        private.mkdirs(sub)
        fd = nofollow.open_dir(rc_dir, head)
        try:
            try:
                same = nofollow.read_beneath(fd, base) == text.encode()
            except (OSError, DevboxError):
                same = False
            if not same:
                nofollow.write_replace(fd, base, text.encode())
        finally:
            os.close(fd)


def shell_argv(program: str, name: str) -> tuple[list[str], dict[str, str]]:
    """argv and extra env for an interactive `program` whose prompt shows mark(NAME)."""
    base = os.path.basename(program)
    mark_ = mark(name)
    if base == "bash":
        return [program, "--rcfile", f"{RC_DIR}/bashrc", "-i"], {}
    if base == "zsh":
        return [program, "-i"], {"ZDOTDIR": f"{RC_DIR}/zsh"}
    if base == "fish":
        init = (
            "functions -q fish_prompt; and functions -c fish_prompt __devbox_prompt; "
            f"function fish_prompt; printf '%s' '{mark_}'; "
            "functions -q __devbox_prompt; and __devbox_prompt; end"
        )
        return [program, "-i", "-C", init], {}
    return [program, "-i"], {"PS1": f"{mark_}$ "}
