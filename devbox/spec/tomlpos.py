"""Where is a key defined? A line locator for TOML, for error messages.

Not a parser: ``tomllib`` parses and validates. This scans the same text and maps every key path
(``("packages", "apt")``, ``("interpreters", "node", "version")``) to the 1-based line that
defines it. A table maps to its header line; a dotted key or header also defines its prefixes
(first definition wins). It never raises, even on broken TOML.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

KeyPath = tuple[str, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = frozenset(",]}#\n\r \t")


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map every key path defined in ``text`` to the 1-based line of its definition."""
    return _Scanner(text).document()


def line_of(lines: Mapping[KeyPath, int], path: Sequence[str]) -> int | None:
    """The line of ``path``, else of its nearest located ancestor, else None."""
    key = tuple(path)
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return None


def dotted(path: Sequence[str]) -> str:
    """A key path as TOML writes it: ``env."MY VAR"``, ``shell.program``."""
    return ".".join(p if _BARE_KEY.fullmatch(p) else _quote(p) for p in path)


def _quote(part: str) -> str:
    escaped = part.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class _Scanner:
    """A forgiving character scanner: skips values, records where keys are."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.found: dict[KeyPath, int] = {}

    # -- low level ---------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> str:
        i = self.pos + ahead
        return self.text[i] if i < len(self.text) else ""

    def advance(self, count: int = 1) -> str:
        chunk = self.text[self.pos : self.pos + count]
        self.line += chunk.count("\n")
        self.pos += len(chunk)
        return chunk

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_blank(self, newlines: bool) -> None:
        """Skip spaces, tabs, comments and (if ``newlines``) line breaks."""
        while not self.at_end():
            c = self.peek()
            if c in " \t" or (newlines and c in "\r\n"):
                self.advance()
            elif c == "#":
                self.skip_line()
            else:
                return

    def skip_line(self) -> None:
        """Skip to (not past) the end of the current line."""
        end = self.text.find("\n", self.pos)
        self.advance((len(self.text) if end < 0 else end) - self.pos)

    def record(self, path: KeyPath, line: int) -> None:
        for n in range(1, len(path) + 1):
            self.found.setdefault(path[:n], line)

    # -- structure ---------------------------------------------------------------------------

    def document(self) -> dict[KeyPath, int]:
        table: KeyPath = ()
        while True:
            self.skip_blank(newlines=True)
            if self.at_end():
                return self.found
            start = self.pos
            if self.peek() == "[":
                table = self.header()
            else:
                self.keyval(table)
            self.skip_line()
            if self.pos == start:
                self.advance()

    def header(self) -> KeyPath:
        line = self.line
        self.advance(2 if self.peek(1) == "[" else 1)
        path = self.key()
        self.record(path, line)
        return path

    def key(self) -> KeyPath:
        parts: list[str] = []
        while True:
            self.skip_blank(newlines=False)
            part = self.simple_key()
            if part is None:
                return tuple(parts)
            parts.append(part)
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return tuple(parts)
            self.advance()

    def simple_key(self) -> str | None:
        c = self.peek()
        if c in "\"'":
            return _decode_string(self.string())
        match = _BARE_KEY.match(self.text, self.pos)
        return self.advance(match.end() - self.pos) if match else None

    def keyval(self, prefix: KeyPath) -> None:
        line = self.line
        path = prefix + self.key()
        if len(path) > len(prefix):
            self.record(path, line)
        self.skip_blank(newlines=False)
        if self.peek() == "=":
            self.advance()
            self.skip_blank(newlines=False)
            self.value(path)

    def value(self, path: KeyPath) -> None:
        c = self.peek()
        if c == "[":
            self.array(path)
        elif c == "{":
            self.inline_table(path)
        elif c in "\"'":
            self.string()
        else:
            while not self.at_end() and self.peek() not in _SCALAR_END:
                self.advance()

    def array(self, path: KeyPath) -> None:
        self.advance()
        self.items(path, "]", self.value)

    def inline_table(self, path: KeyPath) -> None:
        self.advance()
        self.items(path, "}", self.keyval)

    def items(self, path: KeyPath, close: str, item: Callable[[KeyPath], None]) -> None:
        while True:
            self.skip_blank(newlines=True)
            if self.at_end() or self.peek() == close:
                self.advance()
                return
            start = self.pos
            item(path)
            self.skip_blank(newlines=True)
            if self.peek() == ",":
                self.advance()
            elif self.pos == start:
                self.advance()

    def string(self) -> str:
        """Consume a string literal of any of TOML's four kinds; return it as written."""
        start = self.pos
        quote = self.peek()
        multi = self.text.startswith(quote * 3, self.pos)
        self.advance(3 if multi else 1)
        while not self.at_end():
            c = self.peek()
            if c == "\\" and quote == '"':
                self.advance(2)
            elif c == quote:
                run = self.quote_run(quote)
                if not multi:
                    self.advance()
                    break
                if run >= 3:  # a closing delimiter may follow up to two quotes of content
                    self.advance(min(run, 5))
                    break
                self.advance(run)
            elif c == "\n" and not multi:
                break
            else:
                self.advance()
        return self.text[start : self.pos]

    def quote_run(self, quote: str) -> int:
        end = self.pos
        while end < len(self.text) and self.text[end] == quote:
            end += 1
        return end - self.pos


def _decode_string(literal: str) -> str:
    """A quoted key's value, decoded exactly as tomllib decodes it."""
    try:
        value = tomllib.loads(f"k = {literal}")["k"]
    except tomllib.TOMLDecodeError:
        return literal.strip("\"'")
    return value if isinstance(value, str) else literal
