"""Hostile layers packed for export: what a [setup] step leaves (a symlink to a host file, a
FIFO, a file named with a newline, a hard link) goes into the image as what it is (links as
links, their targets as text), never a host file's content; a file swapped for a symlink between
the walk and the open is refused, not followed. The packer runs as root here (tier 1)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from devbox.errors import DevboxError
from devbox.publish import pack
from devbox.publish.packed import blob_path, pack_layer
from devbox.sandbox import host
from devbox.store import layers as store
from devbox.store.paths import Store
from tests.unpack_tars import need_root

SECRET = b"host secret: never in an image\n"


@pytest.fixture(autouse=True)
def root() -> None:
    need_root()


def hostile_layer(st: Store, secret: Path) -> None:
    lb = store.LayerBuild(st, "hostile")
    r = lb.rootfs
    (r / "opt").mkdir()
    os.symlink(str(secret), r / "opt/secret")  # to a file in the test's tmp, outside the box
    os.symlink("/etc/shadow", r / "opt/shadow")
    os.symlink(str(secret.parent), r / "opt/hostdir")
    os.mkfifo(r / "opt/fifo")
    (r / "opt/new\nline").write_bytes(b"x")
    (r / "opt/file").write_bytes(b"mine")
    os.link(r / "opt/file", r / "opt/hard")
    meta = store.LayerMeta(digest="hostile", kind="setup", parent=None, recipe={}, title="setup",
                           size=0, created=1.0, tier=1, packages={}, arch="amd64")  # fmt: skip
    assert lb.commit(meta)


def test_links_stay_links_and_no_host_file_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "outside/secret"
    secret.parent.mkdir()
    secret.write_bytes(SECRET)
    st = Store(tmp_path / "store")
    hostile_layer(st, secret)
    p = pack_layer(st, host.current_tier(), "hostile", tmp_path / "log", lambda _: None)
    raw = blob_path(st, p.digest).read_bytes()  # the blob is the tar itself
    assert SECRET not in raw and b"root:" not in raw
    with tarfile.open(fileobj=io.BytesIO(raw), encoding="utf-8", errors="surrogateescape") as t:
        got = {m.name: m for m in t.getmembers()}
    assert got["opt/secret"].issym() and got["opt/secret"].linkname == str(secret)
    assert got["opt/shadow"].issym() and got["opt/hostdir"].issym()
    assert not any(name.startswith("opt/hostdir/") for name in got)
    assert got["opt/fifo"].isfifo() and got["opt/new\nline"].isreg()
    assert got["opt/hard"].islnk() and got["opt/hard"].linkname == "opt/file"


def test_a_file_swapped_for_a_symlink_after_the_walk_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    d = tmp_path / "layer"
    d.mkdir()
    (d / "f").write_bytes(b"mine")
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        seen = os.stat("f", dir_fd=fd, follow_symlinks=False)  # what the walk saw
        os.unlink(d / "f")
        os.symlink(str(secret), d / "f")  # the box swaps it
        with pytest.raises(pack.Changed, match="changed while it was packed"):
            pack.open_file(fd, "f", seen, "f")
        os.unlink(d / "f")
        os.mkfifo(d / "f")  # a FIFO nobody writes: never waited on
        with pytest.raises(pack.Changed):
            pack.open_file(fd, "f", seen, "f")
        os.unlink(d / "f")
        os.symlink(str(tmp_path), d / "f")
        with pytest.raises(pack.Changed):
            pack.open_dir(fd, "f", seen, "f")
    finally:
        os.close(fd)


def test_a_layer_root_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    st = Store(tmp_path / "store")
    (tmp_path / "real").mkdir()
    (tmp_path / "real/secret").write_bytes(SECRET)
    os.symlink(tmp_path / "real", tmp_path / "upper")
    from devbox.publish.packed import pack_tree

    with pytest.raises(DevboxError, match="packing the writable layer failed"):
        pack_tree(st, host.current_tier(), tmp_path / "upper", tmp_path / "log", print)
