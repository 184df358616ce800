"""The one error type users see, the exit codes, and how an OS error or a bug is told."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class DevboxError(Exception):
    """A user-facing error: printed without a traceback, exit status 1.

    ``hint`` says what to do instead; ``log`` points at a file with the full story.
    """

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None, log: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.log = log

    def render(self) -> str:
        lines = [f"devbox: error: {self.message}"]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        if self.log:
            lines.append(f"  full log: {self.log}")
        return terminal("\n".join(lines))


def printable(text: str, keep: str = "") -> str:
    """Text from outside devbox (a path, a spec value, a file name, a box's output), safe to
    print: every character that is not printable (C0 and C1 controls such as newline and ESC,
    DEL, format characters, undecodable bytes) is shown escaped, as `\\x1b`, instead of acting
    on the terminal. `keep`: control characters let through (a message's own line breaks)."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == " " or ch in keep:
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii"))
    return "".join(out)


def terminal(text: str) -> str:
    """A whole message for the terminal: as `printable`, but its lines and tabs kept. Every
    line devbox prints goes through here (or `printable`), whoever wrote the values in it."""
    return printable(text, keep="\n\t")


class SpecError(DevboxError):
    """A problem in devbox.toml: names the file, key path and line."""

    def __init__(
        self,
        path: str,
        message: str,
        *,
        key: str | None = None,
        line: int | None = None,
        allowed: str | None = None,
        fix: str | None = None,
    ) -> None:
        where = path if line is None else f"{path}:{line}"
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        text = printable(text)
        allowed = printable(allowed) if allowed else allowed
        super().__init__(text, hint=printable(fix) if fix else allowed)
        self.path = path
        self.key = key
        self.line = line
        self.allowed = allowed
        self.fix = printable(fix) if fix else fix

    def render(self) -> str:
        lines = [f"devbox: error in {self.message}"]
        if self.allowed:
            lines.append(f"  allowed: {self.allowed}")
        if self.fix:
            lines.append(f"  hint: {self.fix}")
        return terminal("\n".join(lines))


class HostError(DevboxError):
    """The host lacks something devbox needs (a tool, a kernel feature)."""


def crash_log(e: BaseException, args: Sequence[str], logs: Path) -> str | None:
    """Write the traceback of an unexpected exception (a bug) to `logs` (the store's logs dir);
    its path, or None if even that fails."""
    try:
        import time
        import traceback

        from devbox import __version__

        logs.mkdir(parents=True, exist_ok=True)
        path = logs / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        path.write_text(f"devbox {__version__}\nargv: {list(args)!r}\n\n{text}")
        return str(path)
    except Exception:
        return None


OS_HINTS = {
    errno.ENOSPC: "free some space (`devbox gc` deletes what no project uses), or point "
    "DEVBOX_HOME at a bigger disk",
    errno.EDQUOT: "free some space, or point DEVBOX_HOME at a disk with room in your quota",
    errno.EACCES: "check the permissions there (is it another user's store? set DEVBOX_HOME)",
    errno.EPERM: "check the permissions there (is it another user's store? set DEVBOX_HOME)",
    errno.EROFS: "that filesystem is read-only: point DEVBOX_HOME at a writable one",
}


def os_error(e: OSError) -> str:
    """How an OSError is told: what and where (the file names escaped, as printable)."""
    names = [os.fsdecode(n) if isinstance(n, bytes) else str(n) for n in (e.filename, e.filename2)
             if n is not None and n != ""]  # fmt: skip
    where = "".join(f": {printable(n)}" for n in names)
    text = f"devbox: error: {printable(e.strerror or str(e))}{where}"
    hint = OS_HINTS.get(e.errno or 0)
    return f"{text}\n  hint: {hint}" if hint else text
