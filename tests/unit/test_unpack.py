"""devbox.oci.unpack: a layer tar (plain, gzip, zstd) becomes an overlayfs layer directory with
the tar's files, modes, owners, times, links, whiteouts and capabilities; its digests are
checked as it streams. Each case runs the unpacker as its own process, as root (CI is root)."""

from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.rootless import runtime
from tests.unpack_tars import MTIME, E, compress, fresh, make_tar, need_root, sha, unpack

pytestmark = pytest.mark.usefixtures("root")

# vfs_cap_data, revision 2: effective, permitted cap_net_raw (13)
CAP_NET_RAW = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)
BIG = os.urandom(3 << 20)

ENTRIES = [
    E("./", "dir", mode=0o755),
    E("./etc/", "dir", mode=0o750, uid=0, gid=42, mtime=MTIME + 1),
    E("./etc/conf", data=b"key=value\n", mode=0o640, uid=1000, gid=1001, mtime=MTIME + 2),
    E("./usr/bin/tool", data=b"#!/bin/sh\n", mode=0o4755, mtime=MTIME + 3),
    E("./usr/bin/alias", "link", target="./usr/bin/tool"),
    E("./usr/bin/sh", "symlink", target="/bin/dash", uid=7, gid=8, mtime=MTIME + 4),
    E("./usr/lib/rel", "symlink", target="../../etc/conf"),
    E("./var/pipe", "fifo", mode=0o620, uid=3, gid=4),
    E("./srv/big", data=BIG, mode=0o600),
    E("./home/u/", "dir", mode=0o2770, uid=1000, gid=1000, mtime=MTIME + 5),
]


@pytest.fixture
def root() -> None:
    need_root()


@pytest.mark.parametrize("how", ["none", "gzip", "zstd"])
def test_files_modes_owners_times_and_links(tmp_path: Path, how: str) -> None:
    tar = make_tar(ENTRIES)
    blob = compress(tar, how)
    into = fresh(tmp_path)
    r = unpack(into, blob, "--digest", sha(blob), "--diff-id", sha(tar))
    assert r.code == 0, r.err
    assert r.out == {
        "files": 9,
        "bytes": len(BIG) + 20,
        "devices_skipped": 0,
        "diff_id": sha(tar),
        "digest": sha(blob),
        "compression": how,
    }
    st = (into / "etc/conf").lstat()
    assert (into / "etc/conf").read_bytes() == b"key=value\n"
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (
        0o640,
        1000,
        1001,
        MTIME + 2,
    )
    tool = (into / "usr/bin/tool").lstat()
    assert stat.S_IMODE(tool.st_mode) == 0o4755 and tool.st_uid == 0
    alias = (into / "usr/bin/alias").lstat()
    assert (alias.st_ino, alias.st_nlink) == (tool.st_ino, 2)
    assert os.readlink(into / "usr/bin/sh") == "/bin/dash"
    sh = (into / "usr/bin/sh").lstat()
    assert (sh.st_uid, sh.st_gid, sh.st_mtime) == (7, 8, MTIME + 4)
    assert os.readlink(into / "usr/lib/rel") == "../../etc/conf"
    pipe = (into / "var/pipe").lstat()
    assert stat.S_ISFIFO(pipe.st_mode) and stat.S_IMODE(pipe.st_mode) == 0o620
    assert (pipe.st_uid, pipe.st_gid) == (3, 4)
    assert (into / "srv/big").read_bytes() == BIG
    etc = (into / "etc").lstat()
    assert (stat.S_IMODE(etc.st_mode), etc.st_gid, etc.st_mtime) == (0o750, 42, MTIME + 1)
    home = (into / "home/u").lstat()
    assert (stat.S_IMODE(home.st_mode), home.st_uid, home.st_mtime) == (0o2770, 1000, MTIME + 5)
    parent = (into / "usr/bin").lstat()  # made as tar makes a missing parent
    assert (stat.S_IMODE(parent.st_mode), parent.st_uid, parent.st_gid) == (0o755, 0, 0)


@pytest.mark.parametrize("flag", ["--digest", "--diff-id"])
def test_a_wrong_digest_is_refused(tmp_path: Path, flag: str) -> None:
    tar = make_tar([E("f", data=b"x")])
    blob = compress(tar, "gzip")
    wrong = sha(b"something else")
    r = unpack(fresh(tmp_path), blob, flag, wrong)
    assert r.code == 3
    assert f"not {wrong}" in r.err and "damaged or substituted" in r.err


def test_whiteouts_and_opaque_directories(tmp_path: Path) -> None:
    tar = make_tar(
        [
            E("gone/.wh.file"),
            E("opaque/", "dir"),
            E("opaque/.wh..wh..opq"),
            E("opaque/new", data=b"new"),
            E(".wh..wh.plnk.123"),
            E("implied/.wh..wh..opq"),
        ]
    )
    into = fresh(tmp_path)
    r = unpack(into, tar)
    assert r.code == 0, r.err
    wh = (into / "gone/file").lstat()
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == os.makedev(0, 0)
    for d in ("opaque", "implied"):
        assert os.getxattr(into / d, "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(into)) == ["gone", "implied", "opaque"]


def test_a_file_capability_is_kept(tmp_path: Path) -> None:
    tar = make_tar(
        [
            E(
                "bin/ping",
                data=b"\x7fELF",
                mode=0o755,
                uid=0,
                xattrs={
                    "security.capability": CAP_NET_RAW,
                    "user.note": b"kept",
                    "trusted.other": b"skipped",
                    "security.selinux": b"skipped",
                },
            ),
            E("bin/", "dir", xattrs={"user.dir": b"d", "security.capability": CAP_NET_RAW}),
            E(
                "bin/l",
                "symlink",
                target="ping",
                xattrs={"security.capability": CAP_NET_RAW, "user.x": b"1"},
            ),
            E("bin/p", "fifo", xattrs={"user.fifo": b"skipped: the kernel refuses it"}),
        ]
    )
    into = fresh(tmp_path)
    r = unpack(into, tar)
    assert r.code == 0, r.err
    assert os.listxattr(into / "bin") == ["user.dir"]
    assert os.listxattr(into / "bin/l", follow_symlinks=False) == []
    f = into / "bin/ping"
    assert os.getxattr(f, "security.capability") == CAP_NET_RAW
    if shutil.which("getcap"):  # Debian's libcap2-bin reads it as the capability meant
        out = subprocess.run(["getcap", str(f)], capture_output=True, text=True).stdout
        assert "cap_net_raw" in out, out
    assert os.getxattr(f, "user.note") == b"kept"
    assert sorted(os.listxattr(f)) == ["security.capability", "user.note"]


def test_libarchive_xattrs_are_read(tmp_path: Path) -> None:
    tar = make_tar([E("f", pax={"LIBARCHIVE.xattr.user.a%20b": "dmFsdWU"})])
    into = fresh(tmp_path)
    assert unpack(into, tar).code == 0
    assert os.getxattr(into / "f", "user.a b") == b"value"


def test_single_id_changes_no_owner(tmp_path: Path) -> None:
    tar = make_tar(
        [
            E("d/", "dir", uid=1000, gid=1000),
            E("d/f", uid=1000, gid=1000, mode=0o2755),
            E("d/l", "symlink", target="f", uid=5),
        ]
    )
    into = fresh(tmp_path)
    r = unpack(into, tar, "--single-id")
    assert r.code == 0, r.err
    for p in ("d", "d/f", "d/l"):
        assert ((into / p).lstat().st_uid, (into / p).lstat().st_gid) == (0, 0)
    assert stat.S_IMODE((into / "d/f").stat().st_mode) == 0o2755


def test_later_entries_replace_earlier_ones(tmp_path: Path) -> None:
    tar = make_tar(
        [
            E("a/", "dir", mode=0o700),
            E("a/x", data=b"x"),
            E("a/", "dir", mode=0o751),
            E("b/", "dir"),
            E("b/y", data=b"y"),
            E("b", data=b"now a file"),
            E("c", data=b"file"),
            E("c/", "dir", mode=0o705),
            E("d", "symlink", target="c"),
            E("d", data=b"not through"),
            E("e", data=b"old"),
            E("e", "symlink", target="/nowhere"),
        ]
    )
    into = fresh(tmp_path)
    r = unpack(into, tar)
    assert r.code == 0, r.err
    assert stat.S_IMODE((into / "a").stat().st_mode) == 0o751 and (into / "a/x").exists()
    assert (into / "b").read_bytes() == b"now a file"
    assert stat.S_IMODE((into / "c").lstat().st_mode) == 0o705
    assert (into / "d").read_bytes() == b"not through" and not (into / "d").is_symlink()
    assert os.readlink(into / "e") == "/nowhere"


def test_device_nodes_are_skipped(tmp_path: Path) -> None:
    tar = make_tar(
        [
            E("dev/null", "chr", dev=(1, 3)),
            E("dev/sda", "blk", dev=(8, 0)),
            E("dev/keep", data=b"k"),
        ]
    )
    into = fresh(tmp_path)
    r = unpack(into, tar)
    assert r.code == 0 and r.out["devices_skipped"] == 2
    assert os.listdir(into / "dev") == ["keep"]


@pytest.mark.parametrize(
    ("blob", "says"),
    [
        (b"", "not a readable tar"),
        (b"\x1f\x8b" + b"\0" * 30, "gzip data is damaged"),
        (compress(make_tar([E("f", data=b"x" * 5000)]), "gzip")[:-40], "gzip data ends early"),
        (compress(make_tar([E("f", data=b"x" * 5000)]), "zstd")[:-8], "zstd data is damaged"),
        (make_tar([E("f", data=b"x" * 5000)])[:3000], "ends inside this file"),
        (make_tar([E("f"), E("g")])[:512] + b"\x01" * 512, "damaged tar header at byte 512"),
        (b"\xfd7zXZ\x00" + b"\0" * 100, "xz-compressed layer"),
    ],
)
def test_damaged_blobs_exit_3(tmp_path: Path, blob: bytes, says: str) -> None:
    r = unpack(fresh(tmp_path), blob)
    assert r.code == 3 and says in r.err, r.err


def test_other_failures_exit_1_on_one_line(tmp_path: Path) -> None:
    into = fresh(tmp_path)
    (into / "x").write_text("")
    r = unpack(into, make_tar([E("f")]))
    assert r.code == 1 and "not empty" in r.err
    r = unpack(fresh(tmp_path, "b"), make_tar([E("f")]), "--digest", "md5:00")
    assert r.code == 1 and "usage: --digest must be sha256" in r.err
    r = unpack(fresh(tmp_path, "c"), make_tar([E("f")]), media="application/x-foo")
    assert r.code == 3 and "media type application/x-foo" in r.err


def test_an_owner_the_namespace_does_not_map_is_named(tmp_path: Path) -> None:
    into = fresh(tmp_path)
    tar = make_tar([E("etc/shadow", uid=42, gid=42)])
    r = unpack(into, tar, prefix=("unshare", "--user", "--map-root-user", "--"))
    assert r.code == 3
    assert "etc/shadow: its owner 42:42 is not mapped" in r.err and "ids 0-0" in r.err


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory other users can reach (pytest's tmp_path is root's alone)."""
    d = Path(tempfile.mkdtemp(prefix="devbox-unpack-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d)


def test_user_xattrs_in_a_single_id_namespace(scratch: Path) -> None:
    """Tier 3: a user without subids, root of a one-id namespace, overlay with userxattr."""
    base = scratch / "nobody"
    base.mkdir(mode=0o755)
    os.chown(base, 65534, 65534)
    into = base / "layer"
    into.mkdir()
    os.chown(into, 65534, 65534)
    tar = make_tar(
        [
            E("d/", "dir", uid=1000),
            E("d/.wh..wh..opq"),
            E("d/.wh.old"),
            E("d/f", data=b"f", uid=1000, mode=0o4755),
        ]
    )
    blob = base / "blob"
    blob.write_bytes(tar)
    prefix = (
        "setpriv",
        "--reuid",
        "65534",
        "--regid",
        "65534",
        "--clear-groups",
        "unshare",
        "--user",
        "--map-root-user",
        "--",
    )
    python = runtime(scratch)
    r = unpack(into, blob, "--single-id", "--userxattr", prefix=prefix, python=python)
    assert r.code == 0, r.err
    assert os.getxattr(into / "d", "user.overlay.opaque") == b"y"
    assert (into / "d/old").lstat().st_rdev == os.makedev(0, 0)
    f = (into / "d/f").lstat()
    assert (f.st_uid, stat.S_IMODE(f.st_mode)) == (65534, 0o4755)


def test_an_overlay_of_two_layers_acts_as_the_image_meant(tmp_path: Path) -> None:
    lower = fresh(tmp_path, "lower")
    upper = fresh(tmp_path, "upper")
    base = make_tar(
        [
            E("etc/", "dir"),
            E("etc/keep", data=b"keep"),
            E("etc/gone", data=b"old"),
            E("opt/", "dir"),
            E("opt/old", data=b"old"),
            E("opt/sub/x", data=b"x"),
        ]
    )
    top = make_tar(
        [E("etc/.wh.gone"), E("opt/", "dir"), E("opt/.wh..wh..opq"), E("opt/new", data=b"new")]
    )
    assert unpack(lower, base).code == 0 and unpack(upper, top).code == 0
    mnt = fresh(tmp_path, "mnt")
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={upper}:{lower}", str(mnt)],
        check=True,
    )
    try:
        assert sorted(os.listdir(mnt / "etc")) == ["keep"]
        assert os.listdir(mnt / "opt") == ["new"]
        assert (mnt / "opt/new").read_bytes() == b"new"
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_full_disk_exits_1_on_one_line(tmp_path: Path) -> None:
    small = fresh(tmp_path, "small")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        into = fresh(small)
        blob = tmp_path / "blob"
        blob.write_bytes(make_tar([E("big", data=BIG)]))
        r = unpack(into, blob)
        assert r.code == 1 and r.err == "devbox-unpack: no space left on device\n", r.err
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_the_blob_from_an_inherited_fd(tmp_path: Path) -> None:
    tar = make_tar([E("f", data=b"from the fd")])
    blob = tmp_path / "blob"
    blob.write_bytes(compress(tar, "zstd"))
    into = fresh(tmp_path)
    fd = os.open(blob, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        argv = [sys.executable, "-m", "devbox.oci.unpack", "--into", str(into),
                "--media-type", "tar+zstd", "--fd", str(fd), "--diff-id", sha(tar)]  # fmt: skip
        r = subprocess.run(argv, pass_fds=[fd], capture_output=True, text=True, check=False)
    finally:
        os.close(fd)
    assert r.returncode == 0, r.stderr
    assert (into / "f").read_bytes() == b"from the fd"


def test_a_name_written_again_in_one_layer_ends_as_the_last_entry_says(tmp_path: Path) -> None:
    """Files are made by a second thread: what follows a file at its name (or under it, or
    linking to it) waits for it, so the layer is as written in order."""
    many = [E(f"bulk/{i}", data=b"x" * i) for i in range(300)]
    entries = [
        *many,
        E("a", data=b"1"),
        E("a", data=b"2"),  # the same name again: the second wins
        E("b", data=b"linked"),
        E("c", "link", target="b"),  # a hard link to a file just handed over
        E("d", data=b"gone"),
        E(".wh.d"),  # deleted in the same layer
        E("e", data=b"file"),
        E("e", "symlink", target="/elsewhere"),  # a file replaced by a symlink
        E("g", data=b"file"),
        E("g", "dir"),  # a file replaced by a directory
        E("g/h", data=b"in the dir"),
    ]
    into = fresh(tmp_path)
    r = unpack(into, make_tar(entries))
    assert r.code == 0, r.err
    assert (into / "a").read_bytes() == b"2"
    assert (into / "b").stat().st_ino == (into / "c").stat().st_ino
    d = (into / "d").lstat()
    assert stat.S_ISCHR(d.st_mode) and d.st_rdev == 0
    assert os.readlink(into / "e") == "/elsewhere"
    assert (into / "g/h").read_bytes() == b"in the dir"
    assert all((into / f"bulk/{i}").read_bytes() == b"x" * i for i in range(300))
