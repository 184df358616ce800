"""`[env] files`: .env files, read when a box is entered, never part of a build.

The common syntax, parsed, never executed: `KEY=VALUE` lines, `export KEY=VALUE`, blank lines
and `#` comments; a value in single quotes is taken as written, one in double quotes may span
lines and knows the escapes \\n \\t \\" \\\\ and \\$; an unquoted value ends at ` #` and is
stripped. No `${VAR}` expansion: values are literal (the spec's [env], applied after them, can
use them). A missing file is skipped (a .env is usually not committed); a file the project
holds as a symlink is refused: the working tree is the box's to write, so the file is read with
the no-follow helper.
"""

from __future__ import annotations

import re

from devbox import nofollow
from devbox.errors import DevboxError, printable
from devbox.spec.model import Spec

_LINE = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}
LIMIT = 1 << 20


def parse(text: str, where: str) -> list[tuple[str, str]]:
    """The KEY, VALUE pairs of a .env file's `text`; `where` names it in errors."""
    out: list[tuple[str, str]] = []
    i, n, line = 0, len(text), 1
    while i < n:
        end = text.find("\n", i)
        end = n if end < 0 else end
        raw = text[i:end]
        if not raw.strip() or raw.lstrip().startswith("#"):
            i, line = end + 1, line + 1
            continue
        m = _LINE.match(raw)
        if m is None:
            raise DevboxError(
                f"{where}, line {line}: {printable(raw.strip()[:60])!s} is not KEY=VALUE",
                hint="lines are KEY=VALUE, export KEY=VALUE, or # comments",
            )
        key, j = m.group(1), i + m.end()
        quote = text[j] if j < n and text[j] in "'\"" else ""
        if quote:
            close = _closing(text, j + 1, quote)
            if close < 0:
                raise DevboxError(f"{where}, line {line}: the {quote} quote is never closed")
            value = text[j + 1 : close]
            if quote == '"':
                value = re.sub(r"\\(.)", lambda e: _ESCAPES.get(e[1], "\\" + e[1]), value)
            line += text.count("\n", i, close)
            rest_end = text.find("\n", close)
            rest_end = n if rest_end < 0 else rest_end
            rest = text[close + 1 : rest_end].strip()
            if rest and not rest.startswith("#"):
                raise DevboxError(f"{where}, line {line}: text after the closing quote")
            i, line = rest_end + 1, line + 1
        else:
            value = text[j:end]
            cut = re.search(r"[ \t]#", value)
            value = (value[: cut.start()] if cut else value).strip()
            i, line = end + 1, line + 1
        out.append((key, value))
    return out


def _closing(text: str, start: int, quote: str) -> int:
    k = start
    while k < len(text):
        if text[k] == "\\" and quote == '"':
            k += 2
            continue
        if text[k] == quote:
            return k
        k += 1
    return -1


def load(spec: Spec) -> dict[str, str]:
    """The variables of the spec's env files, in order (a later file wins); missing files are
    skipped, a symlinked one is refused."""
    env: dict[str, str] = {}
    for rel in spec.env_files:
        where = printable(str(spec.project / rel))
        try:
            data = nofollow.read_beneath(spec.project, rel, LIMIT)
        except FileNotFoundError:
            continue
        except nofollow.Refused as e:
            raise DevboxError(
                f"[env] files: {e.message}",
                hint=f"an env file must be a regular file in the project: remove {where}, or "
                "replace it with the file itself",
            ) from None
        except OSError as e:
            raise DevboxError(f"cannot read the env file {where}: {e.strerror or e}") from e
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DevboxError(f"{where} is not UTF-8 text (byte {e.start})") from e
        env.update(parse(text, where))
    return env
