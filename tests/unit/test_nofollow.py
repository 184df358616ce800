"""devbox.nofollow: symlinks, FIFOs and directories where a box may have planted them are
refused with an error naming the path, never followed and never waited on."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devbox import nofollow
from devbox.errors import DevboxError


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/a/b/file, a secret outside root, and links to it at every level."""
    root = tmp_path / "root"
    (root / "a/b").mkdir(parents=True)
    (root / "a/b/file").write_bytes(b"data")
    (tmp_path / "secret").write_bytes(b"host secret")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/b").mkdir()
    (tmp_path / "outside/b/file").write_bytes(b"host secret")
    (root / "link-file").symlink_to(tmp_path / "secret")
    (root / "link-dir").symlink_to(tmp_path / "outside")
    (root / "a/link-dir").symlink_to(tmp_path / "outside/b")
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(root / "fifo")
    return root


def test_reads_a_regular_file_beneath(tree: Path) -> None:
    assert nofollow.read_beneath(tree, "a/b/file") == b"data"
    assert nofollow.read_file(tree / "a/b/file") == b"data"
    fd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert nofollow.read_beneath(fd, "a/./b//file") == b"data"
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("rel", "what"),
    [
        ("link-file", "a symlink"),  # the last component
        ("link-dir/b/file", "a symlink"),  # the first
        ("a/link-dir/file", "a symlink"),  # one in the middle
        ("dangling", "a symlink"),
        ("fifo", "a FIFO"),  # refused without waiting for a writer
        ("a/b", "a directory"),  # a directory where a file is expected
        ("a/b/file/x", "a file"),  # a file where a directory is expected
    ],
)
def test_refuses_what_is_not_a_plain_path(tree: Path, rel: str, what: str) -> None:
    with pytest.raises(nofollow.Refused) as e:
        nofollow.read_beneath(tree, rel)
    assert what in e.value.message
    assert str(tree) in e.value.message  # names the path
    assert isinstance(e.value, DevboxError)


def test_missing_is_file_not_found(tree: Path) -> None:
    with pytest.raises(FileNotFoundError):
        nofollow.read_beneath(tree, "a/nope")
    with pytest.raises(FileNotFoundError):
        nofollow.read_beneath(tree, "nope/file")


@pytest.mark.parametrize("rel", ["../secret", "/etc/passwd", "a/../../secret"])
def test_paths_leaving_the_root_are_refused(tree: Path, rel: str) -> None:
    with pytest.raises(DevboxError):
        nofollow.read_beneath(tree, rel)


def test_open_dir_refuses_a_symlinked_component(tree: Path) -> None:
    fd = nofollow.open_dir(tree, "a/b")
    os.close(fd)
    for rel in ("link-dir", "a/link-dir", "link-dir/b"):
        with pytest.raises(nofollow.Refused, match="symlink"):
            nofollow.open_dir(tree, rel)
    with pytest.raises(nofollow.Refused, match="not a directory"):
        nofollow.open_dir(tree, "a/b/file")


def test_a_fifo_in_the_tree_does_not_hang_a_read(tree: Path) -> None:
    with pytest.raises(nofollow.Refused, match="FIFO"):
        nofollow.read_file(tree / "fifo")


def test_too_big_is_refused(tree: Path) -> None:
    (tree / "big").write_bytes(b"x" * 100)
    with pytest.raises(DevboxError, match="bigger"):
        nofollow.read_beneath(tree, "big", limit=10)


@pytest.mark.parametrize("target", ["link-file", "dangling", "fifo"])
def test_write_replace_replaces_a_link_or_fifo_not_writes_through(tree: Path, target: str) -> None:
    secret = tree.parent / "secret"
    nofollow.write_replace(tree, target, b"new\n", 0o644)
    assert secret.read_bytes() == b"host secret"
    assert not (tree.parent / "nowhere").exists()
    p = tree / target
    assert not p.is_symlink() and p.read_bytes() == b"new\n"
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert not [n for n in os.listdir(tree) if n.endswith(".tmp")]  # no temp file left


def test_write_replace_leaves_a_directory_and_no_temp_file(tree: Path) -> None:
    with pytest.raises(OSError):
        nofollow.write_replace(tree, "a", b"x")
    assert (tree / "a/b/file").read_bytes() == b"data"
    assert not [n for n in os.listdir(tree) if n.endswith(".tmp")]
    with pytest.raises(DevboxError):
        nofollow.write_replace(tree, "a/b", b"x")


def test_walk_never_follows(tree: Path) -> None:
    fd = nofollow.open_dir(tree, "")
    try:
        seen = {rel: stat.S_IFMT(st.st_mode) for rel, st, _, _ in nofollow.walk(fd)}
    finally:
        os.close(fd)
    assert seen["link-dir"] == stat.S_IFLNK
    assert "link-dir/b" not in seen and "a/link-dir/file" not in seen
    assert seen["a/b/file"] == stat.S_IFREG


def test_copy_tree_copies_links_as_links(tree: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (tree / "a/b/file").chmod(0o4755)
    src, dst = nofollow.open_dir(tree, ""), nofollow.open_dir(dest, "")
    try:
        skipped = nofollow.copy_tree(src, dst)
    finally:
        os.close(src)
        os.close(dst)
    assert skipped == ["fifo"]
    assert (dest / "a/b/file").read_bytes() == b"data"
    assert stat.S_IMODE((dest / "a/b/file").stat().st_mode) == 0o755  # no set-id bits
    assert os.readlink(dest / "link-dir") == str(tmp_path / "outside")
    assert os.readlink(dest / "link-file") == str(tmp_path / "secret")
    assert not (dest / "fifo").exists()


def test_open_dir_makes_what_is_missing_and_follows_nothing(tree: Path) -> None:
    fd = nofollow.open_dir(tree, "a/new/deeper", make=0o755)
    try:
        nofollow.write_replace(fd, "f", b"x")
    finally:
        os.close(fd)
    assert (tree / "a/new/deeper/f").read_bytes() == b"x"
    os.close(nofollow.open_dir(tree, "a/b", make=0o755))  # an existing one is opened
    refused = [
        ("link-dir/new", "a symlink"),
        ("a/link-dir", "a symlink"),
        ("dangling/x", "a symlink"),
        ("a/b/file/x", "a file"),
        ("fifo", "a FIFO"),
    ]
    for rel, what in refused:
        with pytest.raises(nofollow.Refused, match=what):
            nofollow.open_dir(tree, rel, make=0o755)
    assert sorted(os.listdir(tree.parent / "outside")) == ["b"]
    assert not (tree.parent / "nowhere").exists()


def test_made_dirs_get_their_mode_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        fd = nofollow.open_dir(tmp_path, "a/b", make=0o755)
        os.close(fd)
    finally:
        os.umask(old)
    assert [(tmp_path / p).stat().st_mode & 0o777 for p in ("a", "a/b")] == [0o755, 0o755]
