"""Desktop entries as text: a box's .desktop read as untrusted input, the host's entry written
from checked values; the escaping checked against the reference tools (desktop-file-validate,
GLib's `gio launch`) where they are installed (scripts/setup.sh installs them for the tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from devbox.activation import desktopfile as df
from tests.helpers import png

XTERM = b"""# a comment
[Desktop Entry]
Name=XTerm
Name[fr]=Terminal X
Comment=standard terminal emulator
Exec=xterm
Terminal=false
Type=Application
Icon=mini.xterm
Categories=System;TerminalEmulator;
StartupWMClass=XTerm

[Desktop Action new]
Exec=sh -c evil
"""


def test_only_the_desktop_entry_group_and_keys_without_a_locale_are_read() -> None:
    keys = df.parse(XTERM)
    assert keys is not None
    assert keys["Name"] == "XTerm" and keys["Exec"] == "xterm"
    assert "Name[fr]" not in keys
    assert df.parse(b"[Other]\nExec=x\n") is None
    assert df.parse(b"\xff\xfe[Desktop Entry]\n") is None, "not UTF-8"
    assert df.parse(b"[Desktop Entry]\nExec=first\nExec=second\n") == {"Exec": "first"}
    assert df.parse("\ufeff[Desktop Entry]\n Exec = x \n".encode()) == {"Exec": "x"}


@pytest.mark.parametrize(
    ("raw", "args"),
    [
        ("xterm", ["xterm"]),
        ("mousepad %U", ["mousepad", "%U"]),
        ('"/opt/my app/run" --flag %f', ["/opt/my app/run", "--flag", "%f"]),
        (r'"a \"b\" \$c \`d\` \\\\e"', ['a "b" $c `d` \\e']),
        ("  spaced   out  ", ["spaced", "out"]),
        ("xterm ; touch /tmp/x", None),
        ("xterm\\ntouch /tmp/x", None),
        ('"unclosed', None),
        ('"$(id)"', None),
        ('"a"b', None),
        ("a|b", None),
        ("", None),
    ],
)
def test_exec_is_parsed_by_the_specs_rules(raw: str, args: list[str] | None) -> None:
    assert df.exec_args(raw) == args


def test_an_entry_is_taken_only_when_it_runs_the_command() -> None:
    app = df.app_for("xterm", "debian-xterm.desktop", XTERM)
    assert app is not None
    assert (app.name, app.icon, app.field, app.extra) == ("XTerm", "mini.xterm", None, False)
    assert app.categories == ("System", "TerminalEmulator")
    assert df.app_for("uxterm", "debian-xterm.desktop", XTERM) is None
    path = XTERM.replace(b"Exec=xterm", b"Exec=/usr/bin/xterm %F")
    assert df.app_for("xterm", "x.desktop", path) == df.BoxApp(
        "x.desktop", "XTerm", "%F", False, False, "mini.xterm", "standard terminal emulator",
        ("System", "TerminalEmulator"), (), False, "XTerm",
    )  # fmt: skip
    for bad in (b"Exec=/tmp/xterm", b"Exec=env xterm", b"Exec=sh -c xterm"):
        assert df.app_for("xterm", "x.desktop", XTERM.replace(b"Exec=xterm", bad)) is None
    assert df.app_for("xterm", "x", XTERM.replace(b"Type=Application", b"Type=Link")) is None
    assert df.app_for("xterm", "x", XTERM.replace(b"Terminal=", b"Hidden=true\nT=")) is None


def test_values_that_are_not_plain_text_are_dropped() -> None:
    hostile = (
        b"[Desktop Entry]\nType=Application\nExec=tool %k %F\n"
        b"Name=Tool\\nExec=evil\nComment=\x1b]0;title\x07\nIcon=../../etc/shadow\n"
        b"Categories=Utility;Bad\\;Cat;X-Ok;\nMimeType=text/plain;bad type;\n"
        b"StartupWMClass=a b\n"
    )
    app = df.app_for("tool", "tool.desktop", hostile)
    assert app is not None
    assert app.name == "tool", "a name with a newline in it falls back to the command's"
    assert app.comment is None and app.icon is None and app.wm_class is None
    assert app.categories == ("Utility", "X-Ok")
    assert app.mime == ("text/plain",)
    assert (app.field, app.extra) == ("%F", True)


def test_the_plainest_entry_stands_for_a_command() -> None:
    def app(file: str, extra: bool = False, hidden: bool = False) -> df.BoxApp:
        return df.BoxApp(file, file, None, extra, hidden, None)

    settings = app("org.xfce.mousepad-settings.desktop", extra=True)
    main = app("org.xfce.mousepad.desktop")
    assert df.choose("mousepad", [settings, main]) == main
    assert df.choose("mousepad", [app("a.desktop"), app("b-mousepad.desktop")]).file == (  # type: ignore[union-attr]
        "b-mousepad.desktop"
    )
    assert df.choose("x", [app("x.desktop", hidden=True), app("y.desktop")]).file == "y.desktop"  # type: ignore[union-attr]
    assert df.choose("x", []) is None


def test_the_hosts_entry_escapes_every_value() -> None:
    app = df.BoxApp("t.desktop", "Tool \\ ;x", "%F", False, False, None, " lead", ("A",), ())
    text = df.render(app, ["/s p/sh%im", "x"], box="b", project="/p r/o", icon="devbox-b-t")
    lines = text.splitlines()
    assert "Name=Tool \\\\ ;x (box b)" in lines
    assert "Comment=\\slead" in lines
    assert 'Exec="/s p/sh%%im" x %F' in lines
    assert "Path=/p r/o" in lines and "Icon=devbox-b-t" in lines
    with pytest.raises(ValueError, match="control character"):
        df.render(app, ["/bin/x"], box="b", project="/p\nExec=evil", icon=None)
    with pytest.raises(ValueError):
        df.exec_line(["x"], "%k")


def test_icons_are_checked_and_sized() -> None:
    assert df.icon_ok(png(48, 48), "png") and df.icon_size_dir(png(48, 48), "png") == "48x48"
    assert df.icon_size_dir(png(50, 50), "png") is None, "not a size of the theme"
    assert df.icon_size_dir(png(48, 32), "png") is None
    assert not df.icon_ok(b"<svg/>", "png") and not df.icon_ok(b"\x89PNG\r\n\x1a\n", "png")
    xpm = b'/* XPM */\nstatic char *x[] = {\n"32 32 2 1",\n'
    assert df.icon_ok(xpm, "xpm") and df.icon_size_dir(xpm, "xpm") == "32x32"
    assert df.icon_ok(b'<?xml version="1.0"?>\n<svg></svg>', "svg")
    assert df.icon_size_dir(b"<svg/>", "svg") == "scalable"
    assert not df.icon_ok(b"GIF89a", "gif")


HOSTILE_WORDS = ["we ird 'q' \"d\" $H `x` \\b %F ;|&", "$(id)", "%k", "a b"]


def test_the_reference_tools_accept_the_entry_and_glib_runs_exactly_its_words(
    tmp_path: Path,
) -> None:
    """desktop-file-validate passes the entry, and GLib's launcher (what GNOME and most desktops
    use) runs exactly the words devbox meant, in the project's directory, the file appended."""
    if not (shutil.which("desktop-file-validate") and shutil.which("gio")):
        pytest.skip("SETUP_FOR_TESTS=1 scripts/setup.sh installs desktop-file-utils and gio")
    project = tmp_path / "pro ject 'q' \"d\" $H \\b"
    project.mkdir()
    out = tmp_path / "argv.txt"
    prog = tmp_path / "bin dir" / "print`args"
    prog.parent.mkdir()
    prog.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done > "{out}"\n'
                    f'pwd >> "{out}"\n')  # fmt: skip
    prog.chmod(0o755)
    app = df.BoxApp("t.desktop", "T", "%F", False, False, None)
    entry = tmp_path / "devbox-b-t.desktop"
    entry.write_text(df.render(app, [str(prog), *HOSTILE_WORDS], box="b", project=str(project),
                               icon=None))  # fmt: skip
    r = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    subprocess.run(["gio", "launch", str(entry), str(tmp_path / "a file")], check=True, env=env,
                   timeout=60)  # fmt: skip
    for _ in range(100):
        if out.exists() and out.read_text().count("\n") == len(HOSTILE_WORDS) + 2:
            break
        time.sleep(0.05)
    words = [f"[{w}]" for w in [*HOSTILE_WORDS, str(tmp_path / "a file")]]
    assert out.read_text().splitlines() == [*words, str(project)]
