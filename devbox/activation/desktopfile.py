"""Desktop entries as text (the freedesktop.org Desktop Entry Specification 1.5): a box's
`.desktop` file read as untrusted input, and the host's entry written from values devbox checked.

A box decides what its `.desktop` files say, so nothing is copied from one: its `Exec` is parsed
only to see which program it runs and which file field code it takes (`%f`, `%F`, `%u`, `%U`);
its name, comment, categories, MIME types and the like are unescaped, checked (printable, short,
list items of a fixed alphabet) and escaped again. The host's `Exec` is devbox's own: the words
that run the exposed command in the box, then at most that field code.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

GROUP = "[Desktop Entry]"
KEY_RE = re.compile(r"[A-Za-z0-9-]+")  # a key without a locale ("Name", not "Name[fr]")
FILE_CODES = ("%f", "%F", "%u", "%U")
RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#()`")  # may not appear unquoted in an Exec argument
ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
# an exposed command that gets a desktop entry: its name goes into file names and the Exec
COMMAND_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,62}")
ICON_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
ICON_PATH_RE = re.compile(r"(/[A-Za-z0-9._+-]{1,128}){1,12}")
CATEGORY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MIME_RE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9._+-]{0,126}")
WM_CLASS_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SAFE_WORD = re.compile(r"[A-Za-z0-9_/.:,+=@-]+")  # an Exec argument that needs no quotes
TEXT_LIMIT = 200
LIST_LIMIT = 32


def parse(data: bytes) -> dict[str, str] | None:
    """The keys of the `[Desktop Entry]` group and their raw values (locale variants left out;
    the first of a key wins), or None if the file has no such group or is not UTF-8."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None
    out: dict[str, str] = {}
    inside = found = False
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if inside:
                break
            inside = found = line == GROUP
            continue
        key, sep, value = line.partition("=")
        if inside and sep and KEY_RE.fullmatch(key.strip()):
            out.setdefault(key.strip(), value.strip())
    return out if found else None


def unescape(value: str) -> str:
    """A string value's escapes (`\\s`, `\\n`, `\\t`, `\\r`, `\\\\`) resolved; others kept."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "\\" and value[i + 1 : i + 2] in ESCAPES:
            out.append(ESCAPES[value[i + 1]])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def text(raw: str | None, limit: int = TEXT_LIMIT) -> str | None:
    """A string value fit to write again: printable (no newline, no control character), not
    empty, at most `limit` characters; else None."""
    if raw is None:
        return None
    value = unescape(raw).strip()
    return value if value and value.isprintable() and len(value) <= limit else None


def items(raw: str | None, pattern: re.Pattern[str]) -> tuple[str, ...]:
    """The items of a list value (`a;b;`) that match `pattern`, at most LIST_LIMIT."""
    found = [item for item in re.split(r"(?<!\\);", raw or "") if pattern.fullmatch(item)]
    return tuple(dict.fromkeys(found))[:LIST_LIMIT]


def exec_args(raw: str) -> list[str] | None:
    """An Exec value's arguments, by the spec's rules (a string's escapes first, then double
    quotes with `\\"`, `` \\` ``, `\\$` and `\\\\` in them); None if it breaks them (a reserved
    character unquoted, an unclosed quote, a control character)."""
    value = unescape(raw)
    if not value.isprintable():
        return None
    args: list[str] = []
    i, n = 0, len(value)
    while True:
        while i < n and value[i] == " ":
            i += 1
        if i >= n:
            return args or None
        if value[i] != '"':
            j = value.find(" ", i)
            j = n if j < 0 else j
            word = value[i:j]
            if RESERVED.intersection(word):
                return None
            args.append(word)
            i = j
            continue
        i += 1
        word_chars: list[str] = []
        while True:
            if i >= n or value[i] in "`$":
                return None  # unclosed, or ` and $ not escaped
            if value[i] == '"':
                i += 1
                break
            if value[i] == "\\":
                if value[i + 1 : i + 2] not in ('"', "`", "$", "\\"):
                    return None
                i += 1
            word_chars.append(value[i])
            i += 1
        if i < n and value[i] != " ":
            return None
        args.append("".join(word_chars))


def runs(program: str, command: str) -> bool:
    """Does an Exec whose program is `program` run `command` (by name, or from the directories
    where shellrc.box_has looks)?"""
    return program == command or program in (
        f"/usr/bin/{command}", f"/bin/{command}", f"/usr/local/bin/{command}",
    )  # fmt: skip


@dataclass(frozen=True)
class BoxApp:
    """What devbox takes from one of the box's `.desktop` files, every value checked."""

    file: str  # its name in the box's /usr/share/applications
    name: str
    field: str | None  # the file field code its Exec passes, if any
    extra: bool  # its Exec has other arguments (not passed: only the command runs)
    hidden: bool  # NoDisplay=true
    icon: str | None  # an icon name, or an absolute path in the box
    comment: str | None = None
    categories: tuple[str, ...] = ()
    mime: tuple[str, ...] = ()
    terminal: bool = False
    wm_class: str | None = None


def app_for(command: str, file: str, data: bytes) -> BoxApp | None:
    """`file` (with content `data`) as the desktop entry of `command`, if it is an application
    whose Exec runs that command; None otherwise."""
    keys = parse(data)
    if keys is None or keys.get("Type") != "Application" or keys.get("Hidden") == "true":
        return None
    args = exec_args(keys.get("Exec", ""))
    if not args or not runs(args[0], command):
        return None
    codes = [a for a in args[1:] if a in FILE_CODES]
    icon = text(keys.get("Icon"))
    if icon is not None and not (ICON_NAME_RE.fullmatch(icon) or ICON_PATH_RE.fullmatch(icon)):
        icon = None
    wm_class = text(keys.get("StartupWMClass"))
    return BoxApp(
        file=file,
        name=text(keys.get("Name")) or command,
        field=codes[0] if codes else None,
        extra=any(a not in FILE_CODES for a in args[1:]),
        hidden=keys.get("NoDisplay") == "true",
        icon=icon,
        comment=text(keys.get("Comment")),
        categories=items(keys.get("Categories"), CATEGORY_RE),
        mime=items(keys.get("MimeType"), MIME_RE),
        terminal=keys.get("Terminal") == "true",
        wm_class=wm_class if wm_class and WM_CLASS_RE.fullmatch(wm_class) else None,
    )


def choose(command: str, apps: Sequence[BoxApp]) -> BoxApp | None:
    """The entry that stands for `command`: one that runs it without other arguments first, then
    one that is shown in menus, then one whose file is named after it (`xterm.desktop`,
    `org.example.xterm.desktop`), then by file name."""

    def named(file: str) -> bool:
        stem = file.removesuffix(".desktop")
        return stem == command or stem.endswith((f".{command}", f"-{command}"))

    return min(apps, key=lambda a: (a.extra, a.hidden, not named(a.file), a.file), default=None)


# -- the host's entry ----------------------------------------------------------------------------


def escape(value: str) -> str:
    """A string value as written in a desktop file; ValueError if it cannot be one (a control
    character: a newline would start a key of its own)."""
    if not value.isprintable():
        raise ValueError(f"{value!r} holds a control character")
    value = value.replace("\\", "\\\\")
    return "\\s" + value[1:] if value.startswith(" ") else value


def exec_word(word: str) -> str:
    """One Exec argument: as it is if it needs no quotes, else double-quoted with `"`, `` ` ``,
    `$` and `\\` escaped; `%` doubled either way (a literal percent sign, never a field code)."""
    if not SAFE_WORD.fullmatch(word):
        word = '"' + re.sub(r'(["`$\\])', r"\\\1", word) + '"'
    return word.replace("%", "%%")


def exec_line(argv: Sequence[str], field: str | None) -> str:
    """The Exec value (string-escaped) that runs `argv`, then `field` (one of FILE_CODES)."""
    if field is not None and field not in FILE_CODES:
        raise ValueError(f"{field!r} is not a file field code")
    words = [exec_word(w) for w in argv] + ([field] if field else [])
    return escape(" ".join(words))


def render(app: BoxApp, argv: Sequence[str], *, box: str, project: str, icon: str | None) -> str:
    """The host's entry for `app`: its checked values, `Name` marked with the box's name, devbox's
    Exec (`argv`, then the app's file field code) run in the project's directory (`Path`), and
    `icon` (the name of the icon devbox copied) if any. ValueError for a value that cannot be
    written (the project's path with a control character)."""
    lines = [
        f"# written by devbox for the box {box}: `devbox deny` or `devbox gc` removes it",
        GROUP,
        "Type=Application",
        "Version=1.4",  # nothing newer is used (and desktop-file-utils 0.26 knows 1.4)
        f"Name={escape(f'{app.name} (box {box})')}",
    ]
    if app.comment:
        lines.append(f"Comment={escape(app.comment)}")
    lines += [f"Exec={exec_line(argv, app.field)}", f"Path={escape(project)}"]
    lines.append(f"Terminal={'true' if app.terminal else 'false'}")
    if icon:
        lines.append(f"Icon={escape(icon)}")
    if app.categories:
        lines.append(f"Categories={';'.join(app.categories)};")
    if app.mime:
        lines.append(f"MimeType={';'.join(app.mime)};")
    if app.wm_class:
        lines.append(f"StartupWMClass={app.wm_class}")
    if app.hidden:
        lines.append("NoDisplay=true")
    lines += [f"X-Devbox-Box={escape(box)}", f"X-Devbox-Project={escape(project)}"]
    return "\n".join(lines) + "\n"


# -- icons ---------------------------------------------------------------------------------------

ICON_EXTS = ("png", "svg", "xpm")
SIZE_DIR_RE = re.compile(r"[1-9][0-9]{0,3}x[1-9][0-9]{0,3}(@[1-9]x?)?|scalable|symbolic")
STANDARD_SIZES = (16, 22, 24, 32, 36, 48, 64, 72, 96, 128, 192, 256, 512)
XPM_SIZE = re.compile(rb'"\s*([0-9]+)\s+([0-9]+)\s+[0-9]+\s+[0-9]+')


def icon_ok(data: bytes, ext: str) -> bool:
    """Is `data` an image of the kind its name says (PNG, SVG or XPM)?"""
    if ext == "png":
        return len(data) >= 24 and data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    if ext == "svg":
        return b"<svg" in data[:4096]
    return ext == "xpm" and data.startswith(b"/* XPM */")


def icon_size_dir(data: bytes, ext: str) -> str | None:
    """The hicolor size directory for an icon outside one (in /usr/share/pixmaps): `scalable`
    for SVG, else its size if it is square and one of the theme's (`48x48`), else None."""
    if ext == "svg":
        return "scalable"
    if ext == "png":
        width, height = struct.unpack(">II", data[16:24])
    else:
        found = XPM_SIZE.search(data[:4096])
        if found is None:
            return None
        width, height = int(found.group(1)), int(found.group(2))
    return f"{width}x{height}" if width == height and width in STANDARD_SIZES else None
