"""A cold build's fetch ahead reads the package lists out of the base that mmdebstrap is
bootstrapping, a layer in the making: it follows no link there (devbox/build/ahead.py). A link
where the lists dir or a list should be is never read, so no host file reaches apt as a list,
and nothing is fetched from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox.build import ahead
from devbox.sandbox import host

pytestmark = pytest.mark.integration


def _fetch(tmp_path: Path, rootfs: Path) -> ahead.Fetch:
    archives = tmp_path / "archives"
    archives.mkdir()
    return ahead.Fetch(
        root=tmp_path / "fetch", archives=archives, suite="bookworm",
        mirror="http://deb.debian.org/debian", packages=("jq",), tier=host.current_tier(),
        log=tmp_path / "log", lists_from=rootfs,
    )  # fmt: skip


@pytest.mark.parametrize("where", ["list", "lists dir", "var"])
def test_a_link_in_the_bootstrapping_base_is_never_followed(tmp_path: Path, where: str) -> None:
    host_lists = tmp_path / "host lists"  # what a link would lead to: lists that look right
    host_lists.mkdir()
    (host_lists / "deb.debian.org_debian_dists_bookworm_InRelease").write_text("host\n")
    (host_lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages").write_text(
        "Package: host-secret\n"
    )
    rootfs = tmp_path / "rootfs"
    if where == "var":
        rootfs.mkdir()
        (rootfs / "var").symlink_to(tmp_path / "elsewhere")
        (tmp_path / "elsewhere/lib/apt").mkdir(parents=True)
        (tmp_path / "elsewhere/lib/apt/lists").symlink_to(host_lists)
    elif where == "lists dir":
        (rootfs / "var/lib/apt").mkdir(parents=True)
        (rootfs / "var/lib/apt/lists").symlink_to(host_lists)
    else:
        lists = rootfs / "var/lib/apt/lists"
        lists.mkdir(parents=True)
        for f in host_lists.iterdir():
            (lists / f.name).symlink_to(f)
    fetch = _fetch(tmp_path, rootfs)
    with ahead.running(fetch):
        pass
    assert fetch.error  # it never found lists it may read
    copied = tmp_path / "fetch" / "lists"
    assert not any("host" in p.read_text() for p in copied.iterdir() if p.is_file())
    assert list((tmp_path / "archives").iterdir()) == []
