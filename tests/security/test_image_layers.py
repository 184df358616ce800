"""Hostile image layers: an image's content is untrusted, so a layer that names paths outside its
directory, writes through symlinks it planted, hard-links host files, plants overlayfs
attributes or device nodes, or carries terminal escapes in its names gets exit status 3 and one
printable line, and nothing is written outside the layer's directory: the host's files (a
sentinel beside the layer, /etc/passwd) stay as they were and nothing new appears.

The unpacker runs as root here (tier 1, CI is root), where a slip would reach anything."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unpack_tars import E, fresh, make_tar, need_root, unpack

ESC = "\x1b]0;pwned\x07\x1b[2J"


def snapshot(base: Path, skip: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every path under `base` but `skip`: (mode, uid, links, content hash or link target)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(base):
        if Path(dirpath) == skip.parent and skip.name in dirnames:
            dirnames.remove(skip.name)
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if p.is_symlink():
                what = os.readlink(p)
            elif p.is_file():
                what = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                what = ""
            out[str(p)] = (st.st_mode, st.st_uid, st.st_nlink, what)
    return out


class Host:
    """tmp/a/layer (the layer dir), tmp/outside/sentinel, and what they were."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.layer = fresh(tmp / "a")
        self.outside = tmp / "outside"
        self.outside.mkdir(mode=0o755)
        self.sentinel = self.outside / "sentinel"
        self.sentinel.write_bytes(b"host data")
        self.before = snapshot(tmp, self.layer)
        self.passwd = os.lstat("/etc/passwd")
        self.etc = sorted(os.listdir("/etc"))

    def unchanged(self) -> None:
        blob = self.layer.parent / "layer.blob"  # the unpack helper's input
        after = {k: v for k, v in snapshot(self.tmp, self.layer).items() if k != str(blob)}
        assert after == {k: v for k, v in self.before.items() if k != str(blob)}
        st = os.lstat("/etc/passwd")
        assert (st.st_nlink, st.st_mode, st.st_mtime_ns) == (
            self.passwd.st_nlink,
            self.passwd.st_mode,
            self.passwd.st_mtime_ns,
        )
        assert sorted(os.listdir("/etc")) == self.etc
        assert os.listxattr(self.outside) == []


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    need_root()
    h = Host(tmp_path)
    yield h
    h.unchanged()


def refused(host: Host, entries: list[E], says: str) -> str:
    r = unpack(host.layer, make_tar(entries))
    assert r.code == 3, r.err
    assert says in r.err, r.err
    assert "\x1b" not in r.err and "\x07" not in r.err
    shutil.rmtree(host.layer)  # as the builder does with a failed layer
    host.layer.mkdir()
    return r.err


@pytest.mark.parametrize(
    "name", ["../../x", "./../../x", "a/../../../x", "/../x", "/abs/../../../x", "..", "a/.."]
)
def test_names_leaving_the_layer(host: Host, name: str) -> None:
    refused(host, [E(name, data=b"pwned")], "'..'")
    assert not (host.tmp / "x").exists() and not (host.tmp.parent / "x").exists()


def test_a_file_through_a_symlink_to_an_absolute_path(host: Host) -> None:
    refused(
        host,
        [E("evil", "symlink", target=str(host.outside)), E("evil/pwned", data=b"x")],
        "evil/pwned: writes through a symlink (evil is a symlink in this layer)",
    )
    assert not (host.outside / "pwned").exists()


def test_a_file_through_a_relative_symlink_upwards(host: Host) -> None:
    entries = [E("up", "symlink", target="../.."), E("up/outside/pwned", data=b"x")]
    refused(host, entries, "writes through a symlink")
    entries = [E("d/", "dir"), E("d/up", "symlink", target="../../.."), E("d/up/outside/sentinel")]
    refused(host, entries, "writes through a symlink (d/up is a symlink")
    assert not (host.outside / "pwned").exists()


@pytest.mark.parametrize(
    "entries",
    [
        [E("passwd", "link", target="../../etc/passwd")],
        [E("passwd", "link", target="/../../../../etc/passwd")],
    ],
)
def test_a_hard_link_out_of_the_layer(host: Host, entries: list[E]) -> None:
    refused(host, entries, "a '..' in its hard link target")


def test_a_hard_link_to_a_host_file_by_an_absolute_name(host: Host) -> None:
    refused(host, [E("passwd", "link", target="/etc/passwd")], "which is not in this layer")


def test_a_hard_link_through_a_symlink(host: Host) -> None:
    entries = [E("etc", "symlink", target="/etc"), E("passwd", "link", target="etc/passwd")]
    refused(host, entries, "passwd: links to a file through a symlink (etc is a symlink")
    entries = [E("s", "symlink", target="/etc/passwd"), E("passwd", "link", target="s")]
    refused(host, entries, "links to a file s, which is not a regular file")
    assert not (host.layer / "passwd").exists()


@pytest.mark.parametrize(
    "xattr",
    ["trusted.overlay.redirect", "user.overlay.opaque", "trusted.overlay.metacopy",
     "user.overlay.redirect", "trusted.overlay.opaque"],
)  # fmt: skip
def test_injected_overlay_attributes(host: Host, xattr: str) -> None:
    refused(host, [E("d/", "dir", xattrs={xattr: b"/etc"})], f"overlayfs attribute {xattr}")
    refused(host, [E("f", xattrs={xattr: b"y"})], "a layer may not set overlayfs attributes")


def test_whiteouts_and_opaque_marks_through_a_symlink(host: Host) -> None:
    link = E("evil", "symlink", target=str(host.outside))
    refused(host, [link, E("evil/.wh.sentinel")], "writes through a symlink")
    refused(host, [link, E("evil/.wh..wh..opq")], "writes through a symlink")
    assert host.sentinel.read_bytes() == b"host data"


def test_device_nodes_are_not_made(host: Host) -> None:
    tar = make_tar([E("disk", "blk", dev=(8, 0)), E("mem", "chr", dev=(1, 1)),
                    E("dev/kmsg", "chr", dev=(1, 11))])  # fmt: skip
    r = unpack(host.layer, tar)
    assert r.code == 0 and r.out["devices_skipped"] == 3, r.err
    assert os.listdir(host.layer) == []


def test_a_name_with_control_characters_is_shown_escaped(host: Host) -> None:
    err = refused(host, [E(f"{ESC}/../../../x", data=b"x")], "'..'")
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in err
    link = E(f"d{ESC}", "symlink", target=str(host.outside))
    err = refused(host, [link, E(f"d{ESC}/f\n", data=b"x")], "writes through a symlink")
    assert "d\\x1b]0;pwned\\x07\\x1b[2J/f\\n" in err


def test_replacing_a_planted_symlink_never_writes_through_it(host: Host) -> None:
    """Later entries at a symlink's name replace the symlink: the host side stays."""
    tar = make_tar([
        E("f", "symlink", target=str(host.sentinel)), E("f", data=b"layer data", mode=0o777),
        E("d", "symlink", target=str(host.outside)), E("d/", "dir", mode=0o777),
        E("p", "symlink", target=str(host.sentinel)), E("p", "fifo"),
        E("w", "symlink", target=str(host.sentinel)), E(".wh.w"),
        E("m/", "dir", mode=0o777), E("m", "symlink", target=str(host.outside)),
    ])  # fmt: skip
    r = unpack(host.layer, tar)
    assert r.code == 0, r.err
    assert (host.layer / "f").read_bytes() == b"layer data"
    assert (host.layer / "d").is_dir() and not (host.layer / "d").is_symlink()
    assert os.readlink(host.layer / "m") == str(host.outside)  # m's mode is not applied there


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        ([E("a/" * 300 + "f")], "more than 256 directories deep"),
        ([E("n" * 5000)], "longer than 4096 bytes"),
        ([E("n" * 300)], "longer than 255 bytes"),
        ([E("f", pax={"path": "a\0b"})], "a NUL byte in its name"),
        ([E("s", "symlink", target="x" * 5000)], "symlink target"),
        ([E("f", pax={"comment": "x" * (9 << 20)})], "a tar extended header of"),
        ([E("f", uid=2**32 - 1)], "an owner id out of range"),
        ([E(".", "file")], "an empty name that is not a directory"),
        ([E("d/.wh..")], "a whiteout of no name"),
    ],
)
def test_names_and_headers_beyond_limits(host: Host, entries: list[E], says: str) -> None:
    refused(host, entries, says)
