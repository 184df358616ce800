"""The X11 cookie a box gets with [share] display = true: a copy, in devbox's rc dir, of the
user's Xauthority entries for the one display the session uses, never the user's file itself.

Read here rather than with `xauth extract` (no host tool needed, and the file is read as devbox
reads every host file a box gets a copy of). The entries are rewritten to FamilyWild: xauth stores
a local display's cookie under the host's name (FamilyLocal), which would not match in a box,
whose hostname is its own; a wildcard entry matches any address, still for this display only
(the docker X11 recipes do the same with `xauth nlist | sed 's/^..../ffff/'`)."""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass

FAMILY_LOCAL = 256
FAMILY_WILD = 65535
MAX_SIZE = 1 << 20  # an Xauthority file is a few hundred bytes per display
_DISPLAY = re.compile(r"(?P<host>[^:/]*):(?P<number>[0-9]+)(?:\.(?P<screen>[0-9]+))?")


@dataclass(frozen=True)
class Display:
    host: str  # "" or "unix": the local socket; else a TCP display (ssh -X's localhost:10)
    number: str
    screen: str | None = None

    @property
    def local(self) -> bool:
        return self.host in ("", "unix")

    @property
    def socket(self) -> str:
        return f"/tmp/.X11-unix/X{self.number}"

    def in_box(self, text: str) -> str:
        """$DISPLAY in the box: the socket's display, or the TCP one as it is."""
        if not self.local:
            return text
        return f":{self.number}" + (f".{self.screen}" if self.screen else "")


def parse_display(text: str) -> Display | None:
    """$DISPLAY (`:0`, `:1.0`, `unix:2`, `localhost:10.0`), or None for anything else."""
    m = _DISPLAY.fullmatch(text)
    return None if m is None else Display(m["host"], str(int(m["number"])), m["screen"])


def copy_name(display: Display) -> str:
    """The copy's name in the rc dir: one per display number, so sessions on two displays
    never take each other's cookie away."""
    return f"Xauthority.{display.number}"


def authority_file(environ: Mapping[str, str], home: str) -> str:
    """The user's Xauthority file, as Xlib finds it."""
    return environ.get("XAUTHORITY") or f"{home.rstrip('/')}/.Xauthority"


@dataclass(frozen=True)
class Entry:
    family: int
    address: bytes
    number: bytes
    name: bytes
    data: bytes

    def encode(self) -> bytes:
        fields = (self.address, self.number, self.name, self.data)
        return struct.pack(">H", self.family) + b"".join(_counted(f) for f in fields)


def _counted(field: bytes) -> bytes:
    return struct.pack(">H", len(field)) + field


def entries(data: bytes) -> list[Entry]:
    """The entries of an Xauthority file; a truncated last one is dropped, as Xlib drops it."""
    out: list[Entry] = []
    at = 0
    while at + 2 <= len(data):
        (family,) = struct.unpack_from(">H", data, at)
        at += 2
        fields: list[bytes] = []
        for _ in range(4):
            if at + 2 > len(data):
                return out
            (size,) = struct.unpack_from(">H", data, at)
            at += 2
            if at + size > len(data):
                return out
            fields.append(data[at : at + size])
            at += size
        out.append(Entry(family, *fields))
    return out


def cookie(data: bytes, display: Display, hostname: str) -> bytes:
    """The Xauthority file a box gets for `display`: the user's entries for this display
    number that Xlib would take on this host (this host's local ones, and wildcard ones), as
    wildcard entries; nothing of any other display."""
    number = display.number.encode()
    host = hostname.encode()
    taken = [
        Entry(FAMILY_WILD, e.address, e.number, e.name, e.data)
        for e in entries(data)
        if e.number == number
        and (e.family == FAMILY_WILD or (e.family == FAMILY_LOCAL and e.address == host))
    ]
    return b"".join(e.encode() for e in taken)
