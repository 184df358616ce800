"""What the host puts in a box's rc dir besides the rc files (box.sync_rc): the git config copy
and the explaining sudo, never written through what a box planted; and when a session on a
terminal gets the terminal's signals (enter.terminal_signals)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devbox.errors import DevboxError
from devbox.sandbox import box as box_
from devbox.sandbox import enter, host, seccomp
from devbox.sandbox.box import Box
from devbox.spec.load import parse_spec
from devbox.store.paths import Store

SPEC = '[box]\nname = "rc"\nbase = "debian:bookworm"\n'


def _box(tmp_path: Path, extra: str = "") -> Box:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    spec = parse_spec(SPEC + extra, project / "devbox.toml")
    box = Box(spec, Store(tmp_path / "store"), ("d1",))
    box.store.layer_rootfs("d1").mkdir(parents=True, exist_ok=True)
    return box


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    for key in ("GIT_CONFIG_GLOBAL", "XDG_CONFIG_HOME", "SSL_CERT_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DEVBOX_HOST_CA", "0")
    return home


def test_git_configs_are_gits_global_files_in_its_order(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert host.git_configs() == [f"{home}/.config/git/config", f"{home}/.gitconfig"]
    monkeypatch.setenv("XDG_CONFIG_HOME", "/x")
    assert host.git_configs() == ["/x/git/config", f"{home}/.gitconfig"]
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/g")
    assert host.git_configs() == ["/g"]


def test_the_git_config_is_given_only_when_there_is_one(tmp_path: Path, home: Path) -> None:
    box = _box(tmp_path)
    rc = box.paths.rc
    box_.sync_rc(box)
    assert box_.git_env(box) == {} and not (rc / "gitconfig").exists()
    (home / ".config/git").mkdir(parents=True)
    (home / ".config/git/config").write_text("[core]\n\tpager = less\n")
    (home / ".gitconfig").write_text("[user]\n\tname = Me\n")
    box_.sync_rc(box)
    assert box_.git_env(box) == {"GIT_CONFIG_SYSTEM": "/run/devbox/gitconfig"}
    assert (rc / "gitconfig").read_text() == (
        "[include]\n\tpath = /etc/gitconfig\n[core]\n\tpager = less\n\n[user]\n\tname = Me\n\n"
    )
    (home / ".gitconfig").unlink()
    (home / ".config/git/config").unlink()
    box_.sync_rc(box)
    assert box_.git_env(box) == {} and not (rc / "gitconfig").exists()
    # the host's home in the box: git finds the user's files there itself
    (home / ".gitconfig").write_text("[user]\n\tname = Me\n")
    assert box_.git_env(_box(tmp_path, '[shell]\nhome = "host"\n')) == {}


def test_sync_rc_replaces_what_a_box_planted(tmp_path: Path, home: Path) -> None:
    box = _box(tmp_path)
    rc = box.paths.rc
    (home / ".gitconfig").write_text("[user]\n\tname = Me\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("precious\n")
    box_.sync_rc(box)
    (rc / "gitconfig").unlink()
    (rc / "gitconfig").symlink_to(outside / "victim")
    for f in (rc / "bin").iterdir():
        f.unlink()
    (rc / "bin").rmdir()
    (rc / "bin").symlink_to(outside)
    box_.sync_rc(box)
    assert (outside / "victim").read_text() == "precious\n"
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert not (rc / "gitconfig").is_symlink() and "name = Me" in (rc / "gitconfig").read_text()
    sudo = rc / "bin/sudo"
    assert not (rc / "bin").is_symlink() and sudo.read_bytes() == box_.SUDO
    assert stat.S_IMODE(sudo.stat().st_mode) == 0o755
    sudo.chmod(0o644)  # a mode changed too is put right
    box_.sync_rc(box)
    assert stat.S_IMODE(sudo.stat().st_mode) == 0o755


def test_a_git_config_where_a_box_can_write_is_refused(tmp_path: Path, home: Path) -> None:
    box = _box(tmp_path)
    inside = box.spec.project / "gitconfig"
    inside.write_text("[user]\n\tname = Planted\n")
    os.symlink(inside, home / ".gitconfig")
    with pytest.raises(DevboxError, match=r"inside .*which a box can write") as e:
        box_.sync_rc(box)
    assert "GIT_CONFIG_GLOBAL" in (e.value.hint or "")


def test_terminal_signals_need_the_filter_and_the_boxs_env(tmp_path: Path) -> None:
    box = _box(tmp_path)
    assert not enter.terminal_signals(box), "no env in the box: bwrap's --new-session stays"
    env = box.store.layer_rootfs("d1") / "usr/bin/env"
    env.parent.mkdir(parents=True)
    env.write_text("")
    assert enter.terminal_signals(box) == seccomp.supported()
