"""[share] in a session (devbox/sandbox/share.py): the binds and variables from the user's
environment, the checks on a bind's host path, what the launcher tests, what status shows; and
the rc dir's cookie copy and git config (box.sync_rc)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from devbox.errors import DevboxError
from devbox.sandbox import argv, gpu, share
from devbox.sandbox import box as box_
from devbox.sandbox.argv import Bind
from devbox.sandbox.box import Box
from devbox.sandbox.enter import plan_entry
from devbox.sandbox.xauth import FAMILY_LOCAL, Entry
from devbox.spec import share as spec_share
from devbox.spec.load import parse_spec
from devbox.store.paths import Store

SPEC = '[box]\nname = "sh"\nbase = "debian:bookworm"\n'
SESSION = {
    "DISPLAY": ":3.0",
    "WAYLAND_DISPLAY": "wayland-1",
    "XDG_RUNTIME_DIR": "/run/user/1000",
    "SSH_AUTH_SOCK": "/tmp/ssh-x/agent.7",
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DEVBOX_HOST_CA", "0")
    monkeypatch.setenv("DEVBOX_HOME", str(tmp_path / "store"))
    for key in ("GIT_CONFIG_GLOBAL", "XDG_CONFIG_HOME", "XAUTHORITY", *SESSION):
        monkeypatch.delenv(key, raising=False)
    return home


def make_box(tmp_path: Path, share_toml: str, shell: str = "") -> Box:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    spec = parse_spec(SPEC + shell + "[share]\n" + share_toml, project / "devbox.toml")
    box = Box(spec, Store(tmp_path / "store"), ("d1",))
    box.store.layer_rootfs("d1").mkdir(parents=True, exist_ok=True)
    return box


def test_a_spec_sharing_nothing_gets_nothing(tmp_path: Path, home: Path) -> None:
    box = make_box(tmp_path, "gitconfig = false\n")
    assert share.plan(box, {}, SESSION) == share.Shared()
    assert share.stale_tests(box) == share.watched(box.spec, SESSION) == []
    assert share.in_force(box.spec, SESSION) == ["git config: not shared"]


def test_the_display_socket_cookie_and_wayland(tmp_path: Path, home: Path) -> None:
    box = make_box(tmp_path, "display = true\n")
    shared = share.plan(box, {}, SESSION)
    assert shared.binds == (
        Bind("/tmp/.X11-unix/X3", "/tmp/.X11-unix/X3", "rw-try"),
        Bind("/run/user/1000/wayland-1", share.WAYLAND, "rw-try"),
    )
    assert dict(shared.env) == {
        "DISPLAY": ":3.0",
        "XAUTHORITY": "/run/devbox/Xauthority.3",
        "WAYLAND_DISPLAY": share.WAYLAND,
    }
    tcp = share.plan(box, {}, {"DISPLAY": "localhost:10.0", "WAYLAND_DISPLAY": "/w/sock"})
    assert tcp.binds == (Bind("/w/sock", share.WAYLAND, "rw-try"),)
    assert dict(tcp.env)["DISPLAY"] == "localhost:10.0", "over TCP: no socket to bind"
    assert share.plan(box, {}, {}) == share.Shared(), "no display here: none in the box"
    assert share.watched(box.spec, SESSION) == [f"{home}/.Xauthority"]
    assert share.in_force(box.spec, SESSION) == [
        "display: X11 :3.0, Wayland /run/user/1000/wayland-1"
    ]
    assert share.in_force(box.spec, {}) == ["display: none in this session (no $DISPLAY)"]


def test_audio_sockets(tmp_path: Path, home: Path) -> None:
    box = make_box(tmp_path, "audio = true\n")
    shared = share.plan(box, {}, SESSION)
    assert shared.binds == (
        Bind("/run/user/1000/pipewire-0", share.PIPEWIRE, "rw-try"),
        Bind("/run/user/1000/pulse/native", share.PULSE, "rw-try"),
    )
    assert dict(shared.env) == {
        "PIPEWIRE_RUNTIME_DIR": share.HOST_DIR,
        "PULSE_SERVER": f"unix:{share.PULSE}",
    }
    assert os.path.basename(share.PIPEWIRE) == "pipewire-0", "PipeWire's default name"
    own = share.plan(box, {}, {"PULSE_SERVER": "unix:/srv/pulse.sock"})
    assert own.binds == (Bind("/srv/pulse.sock", share.PULSE, "rw-try"),)
    tcp = share.plan(box, {}, {"PULSE_SERVER": "tcp:10.0.0.2:4713"})
    assert (tcp.binds, dict(tcp.env)) == ((), {"PULSE_SERVER": "tcp:10.0.0.2:4713"})
    assert share.in_force(box.spec, SESSION) == ["audio: PipeWire, PulseAudio"]
    assert share.in_force(box.spec, {}) == ["audio: none in this session"]


def test_the_ssh_agent(tmp_path: Path, home: Path) -> None:
    box = make_box(tmp_path, "ssh_agent = true\n")
    shared = share.plan(box, {}, SESSION)
    assert shared == share.Shared(
        (Bind("/tmp/ssh-x/agent.7", share.SSH_AGENT, "rw-try"),),
        (("SSH_AUTH_SOCK", share.SSH_AGENT),),
    )
    assert share.plan(box, {}, {"SSH_AUTH_SOCK": "relative"}) == share.Shared()
    assert share.in_force(box.spec, SESSION) == ["ssh agent: /tmp/ssh-x/agent.7"]


def test_a_socket_where_a_box_can_write_is_refused(tmp_path: Path, home: Path) -> None:
    box = make_box(tmp_path, "ssh_agent = true\n")
    for sock in (box.spec.project / "agent.sock", box.store.root / "x/agent"):
        with pytest.raises(DevboxError, match=r"sockets: .* is inside "):
            share.plan(box, {}, {"SSH_AUTH_SOCK": str(sock)})


def test_binds_by_real_path(tmp_path: Path, home: Path) -> None:
    (home / "datasets").mkdir()
    (tmp_path / "srv").mkdir()
    (home / "link").symlink_to(tmp_path / "srv")
    toml = 'binds = [{ host = "~/datasets", box = "/data" },\n'
    toml += '{ host = "~/link", box = "/srv", mode = "rw" }]\n'
    box = make_box(tmp_path, toml)
    assert share.plan(box, {}, {}).binds == (
        Bind(str(home / "datasets"), "/data", "ro"),
        Bind(str(tmp_path / "srv"), "/srv", "rw"),
    )
    tests = share.stale_tests(box)
    assert f"! [ {home}/link -ef {tmp_path}/srv ]" in tests
    assert f"[ -h {tmp_path}/srv ]" in tests and f"[ -h {home} ]" in tests
    assert len(tests) == len(set(tests)), "each path tested once"
    assert share.in_force(box.spec, {}) == [
        "bind: ~/datasets -> /data (ro)",
        "bind: ~/link -> /srv (rw)",
    ]


def test_the_launchers_tests_pass_as_written_and_fail_when_the_path_moves(
    tmp_path: Path, home: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (home / "link").symlink_to(tmp_path / "a")
    box = make_box(tmp_path, 'binds = [{ host = "~/link", box = "/d" }]\n')
    script = "if " + " || ".join(share.stale_tests(box)) + "; then echo stale; else echo ok; fi"
    assert subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout == "ok\n"
    (home / "link").unlink()
    (home / "link").symlink_to(tmp_path / "b")
    assert subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout == "stale\n"


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("~/missing", "~/missing does not exist on this host"),
        ("~/in-project", "is inside the project's working tree"),
        ("~/in-store", "is inside devbox's store"),
        ("~", "holds devbox's store"),
    ],
)
def test_binds_that_are_refused(tmp_path: Path, home: Path, host: str, says: str) -> None:
    box = make_box(tmp_path, f'binds = [{{ host = "{host}", box = "/d" }}]\n')
    (box.spec.project / "sub").mkdir()
    (home / "in-project").symlink_to(box.spec.project / "sub")
    (home / "in-store").symlink_to(box.store.root / "layers")
    (tmp_path / "store" / "layers").mkdir(exist_ok=True)
    os.rename(tmp_path / "store", home / "store")  # the store in the home, as by default
    (tmp_path / "store").symlink_to(home / "store")
    with pytest.raises(DevboxError, match=says):
        share.plan(box, {}, {})


@pytest.mark.parametrize("dest", ["/home", "/nonexistent"])
def test_a_bind_over_the_home_or_the_working_tree_is_refused(
    tmp_path: Path, home: Path, dest: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shell = '[shell]\nworkdir = "/nonexistent/work"\n'
    box = make_box(tmp_path, f'binds = [{{ host = "{home}", box = "{dest}" }}]\n', shell)
    monkeypatch.setenv("HOME", "/home/someone")
    with pytest.raises(DevboxError, match=f'box "{dest}" would hide'):
        share.user_binds(box)


def test_the_session_gets_them(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    box = make_box(tmp_path, "ssh_agent = true\n")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent")
    entry = plan_entry(box, ["true"], cwd=str(box.spec.project), root=False)
    assert entry.env["SSH_AUTH_SOCK"] == share.SSH_AGENT
    assert entry.session.binds == (Bind("/tmp/agent", share.SSH_AGENT, "rw-try"),)


def test_no_gpu_is_an_error_at_entry(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = make_box(tmp_path, "gpu = true\n")
    monkeypatch.setattr(gpu, "_listdir", lambda path: [])
    with pytest.raises(DevboxError, match="this host has no GPU"):
        plan_entry(box, ["true"], cwd=str(box.spec.project), root=False)
    assert share.in_force(box.spec, {}) == ["gpu: none on this host"]
    assert share.watched(box.spec, {}) == list(gpu.WATCHED)


def test_sync_rc_copies_this_displays_cookie_alone(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = make_box(tmp_path, "display = true\n")
    monkeypatch.setattr(socket, "gethostname", lambda: "laptop")
    mine = Entry(FAMILY_LOCAL, b"laptop", b"3", b"MIT-MAGIC-COOKIE-1", b"m" * 16)
    other = Entry(FAMILY_LOCAL, b"laptop", b"4", b"MIT-MAGIC-COOKIE-1", b"o" * 16)
    (home / ".Xauthority").write_bytes(mine.encode() + other.encode())
    monkeypatch.setenv("DISPLAY", ":3")
    box_.sync_rc(box)
    copy = box.paths.rc / "Xauthority.3"
    assert b"m" * 16 in copy.read_bytes() and b"o" * 16 not in copy.read_bytes()
    assert copy.stat().st_mode & 0o777 == 0o600
    (home / ".Xauthority").unlink()
    box_.sync_rc(box)
    assert copy.read_bytes() == b"", "no cookie: an empty file, as Xlib would read none"
    monkeypatch.setenv("XAUTHORITY", str(box.spec.project / "Xauthority"))
    (box.spec.project / "Xauthority").write_bytes(mine.encode())
    with pytest.raises(DevboxError, match=r"Xauthority file .* is inside"):
        box_.sync_rc(box)


def test_gitconfig_false_gives_no_copy(tmp_path: Path, home: Path) -> None:
    (home / ".gitconfig").write_text("[user]\n\tname = Me\n")
    box = make_box(tmp_path, "")
    assert box_.git_files(box) == [f"{home}/.gitconfig"]
    box = make_box(tmp_path, "gitconfig = false\n")
    box_.sync_rc(box)
    assert box_.git_files(box) == [] and box_.git_env(box) == {}
    assert not (box.paths.rc / "gitconfig").exists()


def test_the_spec_knows_devboxs_own_mounts() -> None:
    """The spec cannot import the sandbox (it sits below it): its list of devbox's mounts is
    checked against the sandbox's here."""
    own = set(spec_share.OWN_MOUNTS)
    assert {argv.RC_DIR, share.HOST_DIR, "/tmp/.X11-unix"} <= own
    assert gpu.GPU_DIR.startswith(share.HOST_DIR + "/")
    assert {argv.RC_DIR, share.HOST_DIR} <= set(spec_share.NOTHING_BELOW)
