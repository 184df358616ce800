"""A service's data directory (devbox/services/data.py) and the no-follow helpers under it:
`nofollow.open_dir(make=...)` and `fs.remove_beneath`. Hostile trees are in
tests/security/test_service_data.py."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.services import data
from devbox.store import fs


def test_data_rel() -> None:
    assert data.DATA_DIR == ".devbox/data"
    assert data.data_rel("db") == ".devbox/data/db"
    for bad in ("", ".", "..", "a/b", "-x", "a b"):
        with pytest.raises(DevboxError, match="not a service name"):
            data.data_rel(bad)


def test_ensure_data_makes_the_tree_and_a_gitignore(tmp_path: Path) -> None:
    data.ensure_data(tmp_path, "db")
    data.ensure_data(tmp_path, "cache")
    data.ensure_data(tmp_path, "db")  # again: nothing changes
    assert sorted(os.listdir(tmp_path / ".devbox")) == [".gitignore", "data"]
    assert sorted(os.listdir(tmp_path / ".devbox/data")) == ["cache", "db"]
    assert (tmp_path / ".devbox/.gitignore").read_bytes() == b"*\n"
    assert stat.S_IMODE((tmp_path / ".devbox/data/db").stat().st_mode) == 0o700


def test_ensure_data_keeps_a_gitignore_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / ".devbox").mkdir()
    (tmp_path / ".devbox/.gitignore").write_text("data/\n")
    data.ensure_data(tmp_path, "db")
    assert (tmp_path / ".devbox/.gitignore").read_text() == "data/\n"


def test_ensure_data_in_a_box_directory_of_the_project(tmp_path: Path) -> None:
    box = tmp_path / "services/db"
    box.mkdir(parents=True)
    data.ensure_data(box, "db", project=tmp_path)
    assert (box / ".devbox/data/db").is_dir()
    assert not (tmp_path / ".devbox").exists()
    with pytest.raises(DevboxError, match="not inside the project"):
        data.ensure_data(tmp_path.parent, "db", project=tmp_path)


def test_ensure_data_in_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DevboxError, match=r"cannot make .*/nope/\.devbox/data/db"):
        data.ensure_data(tmp_path / "nope", "db")
    with pytest.raises(DevboxError, match="cannot make"):
        data.ensure_data(tmp_path / "services/db", "db", project=tmp_path)
    assert os.listdir(tmp_path) == []


def test_remove_data(tmp_path: Path) -> None:
    assert data.remove_data(tmp_path, "db") is False  # no .devbox
    data.ensure_data(tmp_path, "db")
    data.ensure_data(tmp_path, "cache")
    assert data.remove_data(tmp_path, "other") is False
    sub = tmp_path / ".devbox/data/db/base/1"
    sub.mkdir(parents=True)
    (sub / "file").write_bytes(b"x")
    (tmp_path / ".devbox/data/db/fifo").parent.mkdir(exist_ok=True)
    os.mkfifo(tmp_path / ".devbox/data/db/fifo")
    (tmp_path / ".devbox/data/db/base").chmod(0)
    assert data.remove_data(tmp_path, "db") is True
    assert sorted(os.listdir(tmp_path / ".devbox/data")) == ["cache"]
    assert data.remove_data(tmp_path, "db") is False


def test_open_dir_makes_what_is_missing(tmp_path: Path) -> None:
    fd = nofollow.open_dir(tmp_path, "a/b/c", make=0o700)
    os.close(fd)
    assert stat.S_IMODE((tmp_path / "a/b/c").stat().st_mode) == 0o700
    os.close(nofollow.open_dir(tmp_path, "a/b/c", make=0o755))  # there: left as it is
    assert stat.S_IMODE((tmp_path / "a/b/c").stat().st_mode) == 0o700
    (tmp_path / "outside").mkdir()
    (tmp_path / "a/link").symlink_to(tmp_path / "outside")
    (tmp_path / "a/dangling").symlink_to(tmp_path / "outside/new")
    (tmp_path / "a/file").write_bytes(b"")
    for rel, what in (("a/link/x", "symlink"), ("a/dangling", "symlink"), ("a/file/x", "a file")):
        with pytest.raises(nofollow.Refused, match=what):
            nofollow.open_dir(tmp_path, rel, make=0o755)
    assert os.listdir(tmp_path / "outside") == []


def test_remove_beneath_never_follows(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "file").write_bytes(b"keep")
    root = tmp_path / "root"
    (root / "t/sub").mkdir(parents=True)
    (root / "t/to-dir").symlink_to(outside / "dir")
    (root / "t/sub/to-file").symlink_to(outside / "file")
    (root / "t/sub/to-root").symlink_to("../..")
    (root / "link").symlink_to(outside)
    assert fs.remove_beneath(root, "t") is True
    assert fs.remove_beneath(root, "t") is False
    assert fs.remove_beneath(root, "nope/t") is False
    with pytest.raises(nofollow.Refused, match="symlink"):
        fs.remove_beneath(root, "link/dir")
    assert fs.remove_beneath(root, "link") is True  # the link itself
    assert sorted(os.listdir(outside)) == ["dir", "file"]
    assert (outside / "file").read_bytes() == b"keep"
    assert os.listdir(root) == []
    with pytest.raises(DevboxError):
        fs.remove_beneath(root, "../outside")


def test_remove_beneath_refuses_a_tree_too_deep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fs, "MAX_DEPTH", 3)
    (tmp_path / "t/1/2/3/4").mkdir(parents=True)
    with pytest.raises(DevboxError, match="deeper than 3 levels"):
        fs.remove_beneath(tmp_path, "t")
    (tmp_path / "u/1/2").mkdir(parents=True)
    assert fs.remove_beneath(tmp_path, "u") is True
