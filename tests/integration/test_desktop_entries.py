"""Desktop entries for a real GUI app from Debian (xterm, which ships one and an icon): the hook
writes them for an allowed project, the reference tools accept them, GLib's launcher (what a
desktop runs) starts the app in the box, whose window shows on the host's display (a real Xvfb),
and `devbox deny` and `devbox gc` take them away."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Devbox, MakeProject

pytestmark = pytest.mark.integration

SPEC = """\
[box]
name = "gui"
base = "debian:bookworm"

[packages]
apt = ["xterm", "xosview"]

[setup]
# the test's Xvfb has no font but "fixed" (xterm, which would do, cannot chown its pty as root
# without capabilities: xosview's window is the one this test looks for)
run = ["sed -i 's/7x13bold/fixed/' /etc/X11/app-defaults/XOsview"]

[shell]
expose = ["xterm", "xosview", "true"]

[share]
display = true
"""
# GLib's own reading of an entry: its Exec split as a desktop splits it (field codes dropped:
# this test passes its own arguments), and its working directory
GLIB = """
import json, sys
import gi
gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib
info = Gio.DesktopAppInfo.new_from_filename(sys.argv[1])
line = " ".join(w for w in info.get_commandline().split(" ") if w not in ("%f", "%F", "%u", "%U"))
ok, argv = GLib.shell_parse_argv(line.replace("%%", "%"))
print(json.dumps({"argv": argv, "path": info.get_string("Path"), "name": info.get_name(),
                  "icon": info.get_icon().to_string()}))
"""


@contextlib.contextmanager
def xvfb(home: Path) -> Iterator[dict[str, str]]:
    """An X server on a free display that wants the cookie in `home`'s Xauthority file: the
    environment of a session on it."""
    n = next(n for n in range(120, 250) if not os.path.exists(f"/tmp/.X11-unix/X{n}")
             and not os.path.exists(f"/tmp/.X{n}-lock"))  # fmt: skip
    auth = home / ".Xauthority"
    cookie = ["xauth", "-f", str(auth), "add", f":{n}", ".", os.urandom(16).hex()]
    subprocess.run(cookie, check=True, capture_output=True)
    server = subprocess.Popen(
        ["Xvfb", f":{n}", "-auth", str(auth), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(f"/tmp/.X11-unix/X{n}"):
            assert server.poll() is None and time.monotonic() < deadline, "no Xvfb"
            time.sleep(0.1)
        yield {"DISPLAY": f":{n}", "XAUTHORITY": str(auth)}
    finally:
        server.terminate()
        server.wait(timeout=10)


def need_tools() -> None:
    missing = [t for t in ("desktop-file-validate", "gio", "Xvfb", "xauth", "xdotool")
               if not shutil.which(t)]  # fmt: skip
    if missing or subprocess.run(["/usr/bin/python3", "-c", "import gi"]).returncode != 0:
        pytest.fail(
            "SETUP_FOR_TESTS=1 scripts/setup.sh installs desktop-file-utils, gio, python3-gi"
        )


def hook_in(devbox: Devbox, project: Path, env: dict[str, str]) -> tuple[str, str]:
    """cd into `project` in a bash with the devbox hook, as a prompt would: (the active box,
    what the hook printed)."""
    hook = shlex.join(devbox.argv("hook", "bash"))
    script = (
        f'eval "$({hook})"; cd {shlex.quote(str(project))} && _devbox_hook; echo "$DEVBOX_ACTIVE"'
    )
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=devbox.env(env),
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    return r.stdout.strip(), r.stderr


def test_an_exposed_gui_app_gets_a_desktop_entry_that_runs_it_in_the_box(
    devbox: Devbox, make_project: MakeProject, tmp_path: Path
) -> None:
    need_tools()
    project = make_project("gui app", SPEC)
    devbox("build", cwd=project, check=True)
    xdg = tmp_path / "xdg data"
    env = {"XDG_DATA_HOME": str(xdg)}
    entry = xdg / "applications" / "devbox-gui-xterm.desktop"
    icon = xdg / "icons/hicolor/scalable/apps/devbox-gui-xterm.svg"
    active, said = hook_in(devbox, project, env)
    assert active == "" and not entry.exists(), f"nothing before `devbox allow`: {said}"
    devbox("allow", cwd=project, check=True, env={"XDG_DATA_HOME": str(tmp_path / "elsewhere")})
    assert hook_in(devbox, project, env)[0] == "gui"  # the hook writes them with the shims
    other = xdg / "applications" / "devbox-gui-xosview.desktop"
    assert sorted(p.name for p in (xdg / "applications").iterdir()) == [other.name, entry.name], (
        "`true` has no desktop entry in the box: none on the host"
    )
    assert (xdg / "icons/hicolor/32x32/apps/devbox-gui-xosview.png").read_bytes()[:4] == b"\x89PNG"
    assert icon.read_bytes().lstrip().startswith(b"<"), "the box's own mini.xterm.svg"
    r = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (0, ""), r.stdout + r.stderr
    glib = subprocess.run(["/usr/bin/python3", "-c", GLIB, str(entry)], capture_output=True,
                          text=True, check=True)  # fmt: skip
    seen = json.loads(glib.stdout)
    assert (seen["name"], seen["icon"], seen["path"]) == ("XTerm (box gui)", icon.stem,
                                                          str(project))  # fmt: skip
    # its Exec runs the app in the box (the host has no xterm), from anywhere, with only the
    # environment a desktop has (the store it belongs to is in the entry)
    assert shutil.which("xterm") is None, "this test needs a host without xterm"
    plain = {k: v for k, v in os.environ.items() if k not in ("DEVBOX_HOME", "DISPLAY")}
    r = subprocess.run([*seen["argv"], "-version"], cwd="/", env=plain, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    assert (r.returncode, r.stdout.strip()) == (0, "XTerm(379)"), r.stdout + r.stderr
    # and so does GLib's launcher itself (no display here: the box's xterm says so)
    r = subprocess.run(["gio", "launch", str(entry)], cwd="/", env=plain, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    assert "xterm: DISPLAY is not set" in r.stderr, r.stdout + r.stderr
    # on a display, the entry's app opens its window there, as a click in a menu would
    home = tmp_path / "home"
    home.mkdir()
    with xvfb(home) as display:
        session = {**plain, **display}
        # the app keeps gio's stdout and stderr: a file, not pipes this test would wait on
        app_out = tmp_path / "xosview.out"
        with open(app_out, "wb") as out:
            subprocess.run(
                ["gio", "launch", str(other)], cwd="/", env=session, check=True, timeout=60,
                stdout=out, stderr=out,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            found = subprocess.run(["xdotool", "search", "--class", "^xosview$"], env=session,
                                   capture_output=True, text=True)  # fmt: skip
            if found.stdout.strip():
                break
            assert time.monotonic() < deadline, f"no xosview window: {app_out.read_text()[-2000:]}"
            time.sleep(0.2)
        subprocess.run(["xdotool", "windowkill", found.stdout.split()[0]], env=session)
    status = devbox("status", cwd=project, check=True, env=env).stdout
    assert f"desktop:  XTerm ({entry}), Xosview ({other})" in status.splitlines(), status
    # `devbox deny` removes them
    r = devbox("deny", cwd=project, check=True, env=env)
    assert f"desktop entries removed: XTerm ({entry}), Xosview ({other})" in r.stderr, r.stderr
    assert not entry.exists() and not icon.exists() and not other.exists()
    # `devbox allow` writes them again, and `devbox gc` removes those of a deleted project
    r = devbox("allow", cwd=project, check=True, env=env)
    assert f"desktop entries: XTerm ({entry}), Xosview ({other})" in r.stderr, r.stderr
    assert entry.exists()
    (project / "devbox.toml").rename(tmp_path / "spec.toml")
    r = devbox("gc", "--dry-run", cwd=tmp_path, check=True, env=env)
    assert f"desktop entries of deleted project {project}" in r.stdout, r.stdout
    assert entry.exists(), "a dry run removes nothing"
    devbox("gc", cwd=tmp_path, check=True, env=env)
    assert not entry.exists() and not icon.exists()
