"""Quoting for the shells the hook serves: a value as one word of bash, zsh or fish."""

from __future__ import annotations

import itertools


def quote(shell: str, value: str) -> str:
    """`value` as one word of `shell`: POSIX single quotes, or fish's (where \\ escapes). A
    character that is not printable (a newline, ESC, a byte that is not UTF-8) is written as
    escaped bytes instead ($'\\x1b' in bash and zsh, \\x1b outside quotes in fish), so the
    code never carries a raw control character, and stands for exactly the same bytes."""
    if not value.isprintable():
        return "".join(
            quote(shell, "".join(run)) if printable else _escaped_bytes(shell, "".join(run))
            for printable, run in itertools.groupby(value, str.isprintable)
        )
    if shell == "fish":
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + value.replace("'", "'\\''") + "'"


def _escaped_bytes(shell: str, run: str) -> str:
    data = run.encode("utf-8", "surrogateescape")
    if shell == "fish":
        return "".join(f"\\{'x' if b < 0x80 else 'X'}{b:02x}" for b in data)
    return "$'" + "".join(f"\\x{b:02x}" for b in data) + "'"
