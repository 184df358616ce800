"""A box's merged files read on the host from its layers: whiteouts and opaque directories hide
what they hide, and nothing the box planted (a symlink, a FIFO, a huge file) is followed,
waited on or read whole."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devbox.sandbox import layerview

APPS = "usr/share/applications"


def layer(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    root.mkdir(parents=True, exist_ok=True)
    return root


def whiteout(path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("a whiteout (a 0/0 character device) is made by root")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def test_layers_merge_top_first_and_whiteouts_hide(tmp_path: Path) -> None:
    lower = layer(tmp_path / "lower", {f"{APPS}/a.desktop": "lower a", f"{APPS}/b.desktop": "b"})
    upper = layer(tmp_path / "upper", {f"{APPS}/a.desktop": "upper a", f"{APPS}/c.desktop": "c"})
    whiteout(upper / APPS / "b.desktop")
    roots = [tmp_path / "missing", upper, lower]
    assert sorted(layerview.listdir(roots, APPS)) == ["a.desktop", "c.desktop"]
    assert layerview.read(roots, f"{APPS}/a.desktop", 100) == b"upper a"
    assert layerview.read(roots, f"{APPS}/b.desktop", 100) is None
    whiteout(upper / "usr" / "share" / "applications2")
    assert layerview.listdir([upper, lower], "usr/share/applications2") == {}


def test_an_opaque_directory_hides_the_layers_below(tmp_path: Path) -> None:
    lower = layer(tmp_path / "lower", {f"{APPS}/a.desktop": "a"})
    upper = layer(tmp_path / "upper", {f"{APPS}/c.desktop": "c"})
    try:
        os.setxattr(upper / "usr", "user.overlay.opaque", b"y")
    except OSError:
        pytest.skip("this file system has no user xattrs")
    assert sorted(layerview.listdir([upper, lower], APPS)) == ["c.desktop"]
    assert layerview.read([upper, lower], f"{APPS}/a.desktop", 100) is None


def test_nothing_a_box_planted_is_followed_waited_on_or_read_whole(tmp_path: Path) -> None:
    host = layer(tmp_path / "host", {"secret.desktop": "host secret", "dir/x.desktop": "host x"})
    lower = layer(tmp_path / "lower", {f"{APPS}/ok.desktop": "ok"})
    upper = layer(tmp_path / "upper", {f"{APPS}/big.desktop": "x" * 1000})
    (upper / APPS / "link.desktop").symlink_to(host / "secret.desktop")
    (upper / APPS / "rel.desktop").symlink_to("../../../../host/secret.desktop")
    os.mkfifo(upper / APPS / "fifo.desktop")
    roots = [upper, lower]
    for name in ("link.desktop", "rel.desktop", "fifo.desktop"):
        assert layerview.read(roots, f"{APPS}/{name}", 100) is None, name
    listed = layerview.listdir(roots, APPS)
    assert stat.S_ISLNK(listed["link.desktop"].st_mode)
    with pytest.raises(layerview.TooBig):
        layerview.read(roots, f"{APPS}/big.desktop", 100)
    assert layerview.read(roots, f"{APPS}/ok.desktop", 100) == b"ok"
    # a directory on the way that is a symlink: the merged path is no directory, whatever lies
    # below (the host's directory is never listed)
    linked = layer(tmp_path / "linked", {})
    (linked / "usr" / "share").mkdir(parents=True)
    (linked / APPS).symlink_to(host / "dir")
    assert layerview.listdir([linked, lower], APPS) == {}
    assert layerview.read([linked, lower], f"{APPS}/x.desktop", 100) is None
    assert layerview.read([linked, lower], f"{APPS}/ok.desktop", 100) is None
    # nor is a layer root that is a symlink, nor a path with `..`
    (tmp_path / "root-link").symlink_to(host)
    assert layerview.read([tmp_path / "root-link"], "secret.desktop", 100) is None
    assert layerview.read([upper], f"{APPS}/../../../../host/secret.desktop", 100) is None
    assert layerview.listdir([upper], "..") == {}
