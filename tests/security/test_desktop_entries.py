"""A box's .desktop files and icons are untrusted: devbox writes the host's desktop entries for
its exposed apps from them (activation/desktop.py) without following a link the box planted
(to a host file or directory), without waiting on a FIFO or reading a huge file, and without
letting an Exec, a name or any other value inject a command, a key or a field code: the host's
entry runs the exposed command's shim and nothing else."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import png
from tests.security.actors import Actor, changed

pytestmark = pytest.mark.integration

SPEC = """\
[box]
name = "hostile"
base = "debian:bookworm"

[setup]
run = ["sh plant.sh"]
inputs = ["plant.sh"]

[shell]
expose = ["tool", "linked", "fifo", "huge", "dirlink", "named"]
"""
# Run as root in the box by the build. HOST: a directory of the user's on the host.
PLANT = r"""set -e
A=/usr/share/applications I=/usr/share/icons/hicolor
mkdir -p $A /usr/local/bin $I/48x48/apps $I/scalable/apps $I/64x64/apps
printf '#!/bin/sh\necho "tool ran in the box: $*"\n' > /usr/local/bin/tool
chmod 755 /usr/local/bin/tool
cat > $A/tool.desktop <<'EOF'
[Desktop Entry]
Type=Application
Name=Tool\nExec=touch PWNED-name
Comment=fine\nX-Evil=1
Exec=tool "; touch PWNED-exec" %k "\\$(touch PWNED-subst)" %c %F
Icon=tool-icon
Categories=Utility;Evil\;X-Evil=1;
MimeType=text/plain;a b/c;
StartupWMClass=x\sExec=touch PWNED-class

[Desktop Action evil]
Exec=touch PWNED-action
EOF
printf '[Desktop Entry]\nType=Application\nName=Second\nExec=tool ;touch PWNED-unquoted\n' \
  > $A/tool2.desktop
ln -s HOST/.ssh/id_ed25519 $I/48x48/apps/tool-icon.png
printf '<svg xmlns="http://www.w3.org/2000/svg"/>\n' > $I/scalable/apps/tool-icon.svg
head -c 2000000 /dev/zero > $I/64x64/apps/tool-icon.png
ln -s HOST/secret.desktop $A/linked.desktop
mkfifo $A/fifo.desktop
{ printf '[Desktop Entry]\nType=Application\nName=Huge\nExec=huge\n'
  head -c 100000 /dev/zero | tr '\0' '#'; } > $A/huge.desktop
rm -rf /usr/share/pixmaps && ln -s HOST /usr/share/pixmaps
printf '[Desktop Entry]\nType=Application\nName=D\nExec=dirlink\nIcon=%s\n' \
  /usr/share/pixmaps/pic.png > $A/dirlink.desktop
printf '[Desktop Entry]\nType=Application\nName=Named\nExec=named\nIcon=pic\n' > $A/named.desktop
"""
SECRET = "[Desktop Entry]\nType=Application\nName=SECRET-NAME\nExec=linked\n"
GLIB_ARGV = """
import json, sys
import gi
gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib
info = Gio.DesktopAppInfo.new_from_filename(sys.argv[1])
line = info.get_commandline().replace(" %F", "").replace("%%", "%")
print(json.dumps(GLib.shell_parse_argv(line)[1]))
"""


def written_under(xdg: Path) -> list[str]:
    return sorted(
        str(p.relative_to(xdg))
        for d in ("applications", "icons")
        for p in (xdg / d).rglob("*")
        if p.is_file()
    )


def test_hostile_desktop_files_and_icons_inject_nothing_and_reach_no_host_file(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    host = actor.work / f"host-files-{actor.tier}"
    host.mkdir()
    (host / "secret.desktop").write_text(SECRET)
    (host / "pic.png").write_bytes(png(48, 48))
    (host / ".ssh").symlink_to(actor.home / ".ssh")
    actor.own(host)
    project = actor.project("desktop", SPEC, {"plant.sh": PLANT.replace("HOST", str(host))})
    xdg = actor.home / ".local/share"  # the default (a user's store is there too)
    env = {"XDG_DATA_HOME": str(xdg)}
    r = actor.devbox("build", cwd=project, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    r = actor.devbox("allow", cwd=project, env=env, timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    written = written_under(xdg)
    assert written == [
        "applications/devbox-hostile-dirlink.desktop",
        "applications/devbox-hostile-named.desktop",
        "applications/devbox-hostile-tool.desktop",
        "icons/hicolor/scalable/apps/devbox-hostile-tool.svg",
    ], "no entry through a link, a FIFO or a huge file; no icon through a link or over 1 MiB"
    tool = (xdg / "applications/devbox-hostile-tool.desktop").read_text()
    for path in (xdg / "applications").iterdir():
        text = path.read_text()
        assert "PWNED" not in text and "SECRET" not in text and "X-Evil" not in text, text
        assert sum(line.startswith("Exec=") for line in text.splitlines()) == 1, text
    lines = tool.splitlines()
    assert "Name=tool (box hostile)" in lines and "Comment=fine\\nX-Evil=1" not in lines
    assert "Categories=Utility;" in lines and "MimeType=text/plain;" in lines, tool
    assert next(line for line in lines if line.startswith("Exec=")).endswith("/tool %F"), tool
    if shutil.which("desktop-file-validate"):
        for path in (xdg / "applications").iterdir():
            v = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
            assert v.returncode == 0 and v.stdout == "", v.stdout
    # the entry runs exactly the exposed command in the box, with the file it is given
    entry = str(xdg / "applications/devbox-hostile-tool.desktop")
    glib = ["/usr/bin/python3", "-c", GLIB_ARGV, entry]
    argv = json.loads(subprocess.run(glib, capture_output=True, text=True, check=True).stdout)
    run = subprocess.run(actor.argv(*argv, "a file"), cwd=project, env=actor.env(env),
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert (run.returncode, run.stdout) == (0, "tool ran in the box: a file\n"), run.stderr
    assert not list(project.rglob("PWNED*")) and not list(Path("/tmp").glob("PWNED*"))
    assert changed(sentinels) == []
    r = actor.devbox("deny", cwd=project, env=env)
    assert r.returncode == 0, r.stderr
    assert written_under(xdg) == []
