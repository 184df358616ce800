"""[share]: a box with the host's display (a real Xvfb on a free display, its cookie in the
user's Xauthority file), ssh agent (a real ssh-agent with a test key) and directories; and on this
host, which has no GPU, `gpu = true` said plainly. As root (tier 1); tests/security/test_share.py
enters boxes with binds and a display's cookie as created users too."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox.store.paths import launcher_path
from tests.helpers import Devbox, MakeProject, launch

pytestmark = pytest.mark.integration

SPEC = """\
[box]
name = "gui"
base = "debian:bookworm"

[packages]
apt = ["x11-apps", "x11-utils", "openssh-client"]

[share]
display = true
ssh_agent = true
binds = [
  { host = "~/datasets", box = "/data" },
  { host = "~/scratch", box = "/scratch", mode = "rw" },
]
"""
HOST_TOOLS = ("Xvfb", "xauth", "xdotool", "xwd", "convert", "ssh-agent", "ssh-add", "ssh-keygen")
TITLE = "devbox display test"


def free_display() -> int:
    for n in range(73, 200):
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
            return n
    raise AssertionError("no free X display number in 73..199")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The user's session: a home, an X server that wants its cookie (and a cookie of another
    display beside it), an ssh agent holding a test key."""
    missing = [t for t in HOST_TOOLS if not shutil.which(t)]
    if missing:
        pytest.fail(f"missing {missing}: SETUP_FOR_TESTS=1 bash scripts/setup.sh installs them")
    home = tmp_path_factory.mktemp("display-home")
    auth = home / ".Xauthority"
    n = free_display()
    for display in (n, n + 1):
        cookie = os.urandom(16).hex()
        argv = ["xauth", "-f", str(auth), "add", f":{display}", ".", cookie]
        subprocess.run(argv, check=True, capture_output=True)
    xvfb = subprocess.Popen(
        ["Xvfb", f":{n}", "-auth", str(auth), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    agent_sock = home / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(agent_sock)],
                             stdout=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    env = {"HOME": str(home), "XAUTHORITY": str(auth), "DISPLAY": f":{n}",
           "SSH_AUTH_SOCK": str(agent_sock)}  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not (os.path.exists(f"/tmp/.X11-unix/X{n}") and agent_sock.exists()):
            assert xvfb.poll() is None and agent.poll() is None, "Xvfb or ssh-agent died"
            assert time.monotonic() < deadline, "Xvfb or ssh-agent never came up"
            time.sleep(0.1)
        key = home / "id_test"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "box-test-key",
                        "-f", str(key)], check=True)  # fmt: skip
        subprocess.run(["ssh-add", "-q", str(key)], env={**os.environ, **env}, check=True)
        for d in ("datasets", "scratch"):
            (home / d).mkdir()
        (home / "datasets/numbers.csv").write_text("1,2,3\n")
        yield env
    finally:
        for proc in (xvfb, agent):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def gui(
    session: dict[str, str], shared_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    project = tmp_path_factory.mktemp("gui") / "gui"
    project.mkdir()
    (project / "devbox.toml").write_text(SPEC)
    r = Devbox(shared_store)("run", "--", "true", cwd=project, env=session)
    assert r.returncode == 0, r.stdout + r.stderr
    return project


def on_host(session: dict[str, str], *argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, env={**os.environ, **session}, capture_output=True, timeout=60)


def screenshot(session: dict[str, str]) -> bytes:
    """The whole screen as PPM (P6) pixels: xwd on the host, converted by ImageMagick."""
    xwd = on_host(session, "xwd", "-root", "-silent", "-display", session["DISPLAY"])
    assert xwd.returncode == 0 and xwd.stdout, xwd.stderr
    ppm = subprocess.run(["convert", "xwd:-", "ppm:-"], input=xwd.stdout, capture_output=True)
    assert ppm.returncode == 0, ppm.stderr
    header, _, rest = ppm.stdout.partition(b"\n255\n")
    fields = [w for line in header.split(b"\n") if not line.startswith(b"#") for w in line.split()]
    assert fields == [b"P6", b"640", b"480"], header
    return rest


def test_an_x11_app_in_the_box_opens_a_window_on_the_hosts_display(
    devbox: Devbox, gui: Path, session: dict[str, str]
) -> None:
    before = screenshot(session)
    app = subprocess.Popen(
        devbox.argv("run", "--", "xmessage", "-geometry", "320x120+40+40", TITLE), cwd=gui,
        env=devbox.env(session), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            found = on_host(session, "xdotool", "search", "--name", "^xmessage$")
            if found.returncode == 0 and found.stdout.strip():
                break
            assert app.poll() is None, app.communicate()
            assert time.monotonic() < deadline, "no xmessage window on the display"
            time.sleep(0.2)
        time.sleep(0.5)  # drawn
        after = screenshot(session)
        assert len(set(after[i : i + 3] for i in range(0, len(after), 3))) > 1, "a blank screen"
        changed = [i for i in range(0, len(after), 3) if after[i : i + 3] != before[i : i + 3]]
        assert len(changed) > 320 * 120 // 2, "the window is not on the screenshot"
        rows = {(i // 3) // 640 for i in changed}
        cols = {(i // 3) % 640 for i in changed}
        assert min(rows) >= 40 and min(cols) >= 40, "drawn where the app asked"
        window = found.stdout.split()[0].decode()
        on_host(session, "xdotool", "windowkill", window)  # xmessage ends with its window
        app.wait(timeout=30)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()


def test_the_cookie_is_what_lets_the_box_in(
    devbox: Devbox, gui: Path, session: dict[str, str]
) -> None:
    r = launch(devbox, gui, "sh", "-c", 'echo "$DISPLAY $XAUTHORITY"; xdpyinfo | head -1',
               extra=session)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"{session['DISPLAY']} /run/devbox/Xauthority.{session['DISPLAY'][1:]}",
        f"name of display:    {session['DISPLAY']}",
    ]
    r = launch(devbox, gui, "env", "XAUTHORITY=/dev/null", "xdpyinfo", extra=session)
    assert r.returncode != 0 and "unable to open display" in r.stderr


def test_a_new_display_reaches_the_box_through_the_launcher(
    devbox: Devbox, gui: Path, session: dict[str, str]
) -> None:
    launch(devbox, gui, "true", extra=session)
    text = launcher_path(gui, devbox.store).read_text()
    screen = f"{session['DISPLAY']}.0"
    r = launch(devbox, gui, "sh", "-c", 'echo "$DISPLAY"', extra={**session, "DISPLAY": screen})
    assert (r.returncode, r.stdout) == (0, f"{screen}\n"), r.stderr
    assert launcher_path(gui, devbox.store).read_text() != text, "written for the new display"
    r = launch(devbox, gui, "sh", "-c", 'echo "${DISPLAY-none}"', extra={**session, "DISPLAY": ""})
    assert (r.returncode, r.stdout) == (0, "none\n"), "no display here: none in the box"


def test_the_hosts_ssh_agent_lists_its_key_in_the_box(
    devbox: Devbox, gui: Path, session: dict[str, str]
) -> None:
    r = launch(devbox, gui, "sh", "-c", 'echo "$SSH_AUTH_SOCK"; ssh-add -l', extra=session)
    assert r.returncode == 0, r.stderr
    sock, listed = r.stdout.splitlines()
    assert sock == "/run/devbox-host/ssh-agent"
    assert listed.endswith("box-test-key (ED25519)"), listed
    r = launch(devbox, gui, "ls", "-a", "/run/devbox-host", extra=session)
    assert r.stdout.split() == [".", "..", "ssh-agent"], "the socket alone, not its directory"


def test_binds_read_only_and_read_write(devbox: Devbox, gui: Path, session: dict[str, str]) -> None:
    home = Path(session["HOME"])
    r = launch(devbox, gui, "sh", "-c", "cat /data/numbers.csv; echo x > /data/new", extra=session)
    assert r.stdout == "1,2,3\n" and r.returncode != 0
    assert "Read-only file system" in r.stderr
    assert sorted(os.listdir(home / "datasets")) == ["numbers.csv"]
    r = launch(devbox, gui, "sh", "-c", "echo from-box > /scratch/out", extra=session)
    assert r.returncode == 0, r.stderr
    assert (home / "scratch/out").read_text() == "from-box\n"


def test_gpu_on_a_host_without_one(devbox: Devbox, make_project: MakeProject) -> None:
    if any(p.startswith(("card", "renderD")) for p in _listdir("/dev/dri")):
        pytest.skip("this host has a GPU")
    spec = '[box]\nname = "gpu"\nbase = "debian:bookworm"\n[share]\ngpu = true\n'
    project = make_project("gpu", spec)
    r = devbox("run", "--", "true", cwd=project)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "this host has no GPU: no card or render node in /dev/dri" in r.stderr
    assert "hint: set gpu = false in devbox.toml's [share]" in r.stderr


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
