"""The X11 cookie a box gets (devbox/sandbox/xauth.py): $DISPLAY's forms, the Xauthority file
format, and the copy: this display's entries alone, as wildcard entries. Where the real `xauth`
is installed, the copy is checked with it too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from devbox.sandbox import xauth
from devbox.sandbox.xauth import FAMILY_LOCAL, FAMILY_WILD, Display, Entry


@pytest.mark.parametrize(
    ("text", "display", "in_box"),
    [
        (":0", Display("", "0"), ":0"),
        (":1.0", Display("", "1", "0"), ":1.0"),
        ("unix:07", Display("unix", "7"), ":7"),
        ("localhost:10.0", Display("localhost", "10", "0"), "localhost:10.0"),
        ("[::1]:3", None, ""),
        ("", None, ""),
        ("wayland-0", None, ""),
        ("/tmp/launch-x/org.xquartz:0", None, ""),
        (":0\n:1", None, ""),
    ],
)
def test_displays(text: str, display: Display | None, in_box: str) -> None:
    assert xauth.parse_display(text) == display
    if display is not None:
        assert display.in_box(text) == in_box
        assert display.socket == f"/tmp/.X11-unix/X{display.number}"
        assert xauth.copy_name(display) == f"Xauthority.{display.number}"


def test_the_authority_file_is_xlibs() -> None:
    assert xauth.authority_file({"XAUTHORITY": "/run/user/1/xauth_x"}, "/home/a") == (
        "/run/user/1/xauth_x"
    )
    assert xauth.authority_file({"XAUTHORITY": ""}, "/home/a/") == "/home/a/.Xauthority"


MINE = Entry(FAMILY_LOCAL, b"laptop", b"0", b"MIT-MAGIC-COOKIE-1", bytes(range(16)))
OTHER_DISPLAY = Entry(FAMILY_LOCAL, b"laptop", b"1", b"MIT-MAGIC-COOKIE-1", b"\x01" * 16)
OTHER_HOST = Entry(FAMILY_LOCAL, b"server", b"0", b"MIT-MAGIC-COOKIE-1", b"\x02" * 16)
TCP = Entry(0, b"\x7f\x00\x00\x01", b"0", b"MIT-MAGIC-COOKIE-1", b"\x03" * 16)
WILD = Entry(FAMILY_WILD, b"", b"0", b"XDM-AUTHORIZATION-1", b"\x04" * 16)


def test_entries_round_trip_and_a_truncated_one_is_dropped() -> None:
    data = b"".join(e.encode() for e in (MINE, OTHER_DISPLAY, TCP, WILD))
    assert xauth.entries(data) == [MINE, OTHER_DISPLAY, TCP, WILD]
    for cut in range(1, len(WILD.encode())):
        assert xauth.entries(data[:-cut]) == [MINE, OTHER_DISPLAY, TCP]
    assert xauth.entries(b"") == []


def test_the_copy_holds_this_displays_cookies_alone() -> None:
    data = b"".join(e.encode() for e in (OTHER_DISPLAY, MINE, OTHER_HOST, TCP, WILD))
    copy = xauth.entries(xauth.cookie(data, Display("", "0"), "laptop"))
    assert copy == [
        Entry(FAMILY_WILD, b"laptop", b"0", MINE.name, MINE.data),
        WILD,
    ]
    assert xauth.cookie(data, Display("", "5"), "laptop") == b""
    assert xauth.cookie(b"\x01\x00\xff", Display("", "0"), "laptop") == b""


@pytest.mark.skipif(not shutil.which("xauth"), reason="no xauth here (apt-get install xauth)")
def test_xauth_reads_the_copy(tmp_path: Path) -> None:
    """The real xauth writes the user's file and reads devbox's copy back."""
    users = tmp_path / "Xauthority"
    hostname = "devbox-test-host"
    for display, cookie in ((":4", "ab" * 16), (":5", "cd" * 16)):
        subprocess.run(["xauth", "-f", str(users), "add", f"{hostname}/unix{display}",
                        "MIT-MAGIC-COOKIE-1", cookie], check=True, capture_output=True)  # fmt: skip
    copy = tmp_path / "copy"
    copy.write_bytes(xauth.cookie(users.read_bytes(), Display("", "4"), hostname))
    listed = subprocess.run(["xauth", "-f", str(copy), "list"], capture_output=True, text=True)
    assert listed.stdout.split() == ["#ffff#" + hostname.encode().hex() + "#:4",
                                     "MIT-MAGIC-COOKIE-1", "ab" * 16]  # fmt: skip
