"""devbox.publish: a store layer packed as a reproducible image layer (the packer as its own
process), the record beside its blob, an OCI layout of packed layers, refs a push accepts.
As root (CI is root): owners, whiteouts (0:0 devices) and trusted.* xattrs."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from devbox.errors import DevboxError
from devbox.publish.layout import write_layout
from devbox.publish.packed import Packed, blob_path, pack_layer, pack_tree, record_path
from devbox.publish.send import check_ref
from devbox.sandbox import host
from devbox.store import layers as store
from devbox.store.fs import remove_tree
from devbox.store.paths import Store
from tests.unpack_tars import need_root, unpack

MTIME = 1_700_000_000
CAP = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"


@pytest.fixture(autouse=True)
def root() -> None:
    need_root()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fill(d: Path, devices: bool = True) -> None:
    """A layer with every kind of entry the packer meets (device nodes: the unpacker skips
    them, so a layer unpacked from the tar has none)."""
    (d / "etc/sub").mkdir(parents=True)
    (d / "etc/conf").write_bytes(b"key=value\n")
    os.chown(d / "etc/conf", 1000, 1001)
    os.chmod(d / "etc/conf", 0o640)
    os.link(d / "etc/conf", d / "etc/conf2")
    os.symlink("/etc/shadow", d / "shadow")
    os.mkfifo(d / "fifo")
    os.mknod(d / "gone", 0o600 | 0o020000, 0)  # overlayfs whiteout
    if devices:
        os.mknod(d / "null", 0o666 | 0o020000, os.makedev(1, 3))
    os.setxattr(d / "etc/sub", "trusted.overlay.opaque", b"y")
    os.setxattr(d / "etc/conf", "user.note", b"hi")
    os.setxattr(d / "etc/conf", "trusted.overlay.origin", b"x")
    (d / "bin").mkdir()
    (d / "bin/ping").write_bytes(b"\x7fELF")
    os.setxattr(d / "bin/ping", "security.capability", CAP)
    (d / "new\nline").write_bytes(b"")
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:  # through the dir fd: a tmp path may be longer than a socket address may be
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(f"/proc/self/fd/{dfd}/sock")
    finally:
        os.close(dfd)
    for p in sorted(d.rglob("*"), reverse=True):
        os.utime(p, (MTIME, MTIME), follow_symlinks=False)


def layer(st: Store, key: str, created: float = 1.0, devices: bool = True) -> Path:
    lb = store.LayerBuild(st, key)
    fill(lb.rootfs, devices)
    meta = store.LayerMeta(digest=key, kind="setup", parent=None, recipe={}, title="setup",
                           size=0, created=created, tier=1, packages={}, arch="amd64")  # fmt: skip
    assert lb.commit(meta)
    return st.layer_rootfs(key)


def pack(st: Store, key: str, log: Path) -> Packed:
    return pack_layer(st, host.current_tier(), key, log, lambda _: None)


def members(st: Store, p: Packed) -> list[tarfile.TarInfo]:
    raw = blob_path(st, p.digest).read_bytes()  # the blob is the tar itself
    assert sha(raw) == p.diff_id
    with tarfile.open(fileobj=io.BytesIO(raw), encoding="utf-8", errors="surrogateescape") as t:
        return t.getmembers()


def test_the_tar_holds_each_kind_as_the_box_sees_it(tmp_path: Path) -> None:
    st = Store(tmp_path / "store")
    layer(st, "k1")
    p = pack(st, "k1", tmp_path / "log")
    blob = blob_path(st, p.digest).read_bytes()
    assert sha(blob) == p.digest and len(blob) == p.size and blob[4:8] == b"\0\0\0\0"  # mtime 0
    got = {m.name: m for m in members(st, p)}
    names = list(got)
    assert names.index("etc") < names.index("etc/conf") < names.index("etc/sub")
    assert "sock" not in got and ".wh.gone" in got and "gone" not in got
    assert got[".wh.gone"].isreg() and got[".wh.gone"].size == 0
    assert "etc/sub/.wh..wh..opq" in got
    conf = got["etc/conf"]
    assert (conf.uid, conf.gid, conf.mode, conf.mtime) == (1000, 1001, 0o640, MTIME)
    assert (conf.uname, conf.gname) == ("", "")
    assert conf.pax_headers.get("SCHILY.xattr.user.note") == "hi"
    assert not any("overlay" in k for m in got.values() for k in m.pax_headers)
    assert not any(k in m.pax_headers for m in got.values() for k in ("atime", "ctime"))
    assert got["etc/conf2"].islnk() and got["etc/conf2"].linkname == "etc/conf"
    assert got["shadow"].issym() and got["shadow"].linkname == "/etc/shadow"
    assert got["fifo"].isfifo() and got["new\nline"].isreg()
    assert got["null"].ischr() and (got["null"].devmajor, got["null"].devminor) == (1, 3)
    cap = got["bin/ping"].pax_headers["SCHILY.xattr.security.capability"]
    assert cap.encode("utf-8", "surrogateescape") == CAP
    rec = json.loads(record_path(st, "k1").read_text())
    assert (rec["digest"], rec["diff_id"], rec["created"]) == (p.digest, p.diff_id, 1.0)


def test_packing_is_reproducible_and_cached(tmp_path: Path) -> None:
    one, two = Store(tmp_path / "a"), Store(tmp_path / "b")
    layer(one, "k")
    time.sleep(1.1)  # other ctimes and atimes: none of them in the tar
    layer(two, "k")
    first, second = pack(one, "k", tmp_path / "log"), pack(two, "k", tmp_path / "log")
    assert first == second
    os.utime(blob_path(one, first.digest), (1, 1))  # a packed layer is not packed again
    assert pack(one, "k", tmp_path / "log") == first
    assert blob_path(one, first.digest).stat().st_mtime == 1
    assert not [p for p in one.oci.iterdir() if p.name.startswith(".tmp-")]


def test_a_layer_built_again_is_packed_again(tmp_path: Path) -> None:
    st = Store(tmp_path / "store")
    layer(st, "k", created=1.0)
    first = pack(st, "k", tmp_path / "log")
    remove_tree(st.layer_dir("k"))
    rootfs = layer(st, "k", created=2.0)
    (rootfs / "etc/more").write_bytes(b"more")
    os.utime(rootfs / "etc", (MTIME, MTIME))
    again = pack(st, "k", tmp_path / "log")
    assert again.diff_id != first.diff_id
    assert json.loads(record_path(st, "k").read_text())["created"] == 2.0


def test_unpacked_and_packed_again_gives_the_same_diff_id(tmp_path: Path) -> None:
    st = Store(tmp_path / "store")
    layer(st, "k", devices=False)
    p = pack(st, "k", tmp_path / "log")
    into = tmp_path / "unpacked"
    into.mkdir()
    r = unpack(into, blob_path(st, p.digest), "--diff-id", p.diff_id)
    assert r.code == 0, r.err
    again = pack_tree(st, host.current_tier(), into, tmp_path / "log", lambda _: None)
    assert (again.key, again.diff_id) == ("", p.diff_id)


def test_source_date_epoch_clamps_mtimes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st = Store(tmp_path / "store")
    layer(st, "k")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(MTIME - 10))
    p = pack_tree(st, host.current_tier(), st.layer_rootfs("k"), tmp_path / "log", print)
    assert {m.mtime for m in members(st, p)} <= {MTIME - 10, 0}


def test_a_missing_layer_dir_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    st = Store(tmp_path / "store")
    with pytest.raises(DevboxError, match="packing the writable layer failed"):
        pack_tree(st, host.current_tier(), tmp_path / "nope", tmp_path / "log", print)
    assert sorted(p.name for p in st.oci.iterdir()) == []


def test_the_layout_is_an_oci_image_and_the_same_twice(tmp_path: Path) -> None:
    st = Store(tmp_path / "store")
    layer(st, "k")
    p = pack(st, "k", tmp_path / "log")
    config = {"config": {"Env": ["A=1"], "Labels": {"dev.devbox.version": "1"}}, "created":
              "1970-01-01T00:00:00Z", "history": [{"created_by": "setup"}]}  # fmt: skip
    one = write_layout(st, tmp_path / "one", [p], config, tag="box")
    two = write_layout(st, tmp_path / "two", [p], config)
    assert one == two
    out = subprocess.run(["skopeo", "inspect", f"oci:{tmp_path / 'one'}:box"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    doc = json.loads(out)
    assert doc["Digest"] == one and doc["Layers"] == [p.digest]
    assert doc["Labels"] == {"dev.devbox.version": "1"}
    layer_blob = tmp_path / "one/blobs/sha256" / p.digest[7:]
    assert layer_blob.stat().st_ino == blob_path(st, p.digest).stat().st_ino


@pytest.mark.parametrize(
    ("ref", "ok"),
    [
        ("registry.example.com:5000/team/box:1", True),
        ("registry.example.com/team/box@sha256:" + "a" * 64, True),
        ("registry.example.com:5000/team/box", False),
        ("box:1", False),
        ("Registry.example.com/Team/box:1", False),
    ],
)
def test_a_push_names_a_registry_and_a_tag_or_digest(ref: str, ok: bool) -> None:
    if ok:
        assert check_ref(ref) == ref
    else:
        with pytest.raises(DevboxError):
            check_ref(ref)
