"""A cold build keeps what the base's bootstrap made beside the suite's shared lists: apt's
cache of them (devbox/build/steps.py). The bootstrap has run the maintainer scripts of the
base's packages by then, so the hook that copies it follows no link: a link at the file or at
`var/cache/apt` leaves nothing in the shared cache, and no host file is read. The fetch ahead
itself reads nothing from the base being bootstrapped (its lists are its own update's)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devbox.build import steps

pytestmark = pytest.mark.integration


def _keep_cache_hook(lists: Path) -> str:
    argv = steps.mmdebstrap_argv("m", "s", "/t", "http://m", "/c", "/o", lists=str(lists))
    hook = next(a for a in argv if "srcpkgcache.bin" in a)
    return hook.removeprefix("--customize-hook=")


@pytest.mark.parametrize("where", ["file", "dir", "var"])
def test_a_link_in_the_bootstrapped_base_is_never_followed_into_the_shared_cache(
    tmp_path: Path, where: str
) -> None:
    host = tmp_path / "host"  # what a link would lead to
    host.mkdir()
    (host / "srcpkgcache.bin").write_text("host secret\n")
    rootfs, lists = tmp_path / "rootfs", tmp_path / "lists"
    lists.mkdir()
    if where == "file":
        (rootfs / "var/cache/apt").mkdir(parents=True)
        (rootfs / "var/cache/apt/srcpkgcache.bin").symlink_to(host / "srcpkgcache.bin")
    elif where == "dir":
        (rootfs / "var/cache").mkdir(parents=True)
        (rootfs / "var/cache/apt").symlink_to(host)
    else:
        rootfs.mkdir()
        (host / "cache").mkdir()
        (host / "cache/apt").symlink_to(host)
        (rootfs / "var").symlink_to(host)
    subprocess.run(["sh", "-c", _keep_cache_hook(lists), "sh", str(rootfs)], check=False)
    assert list(lists.iterdir()) == []


def test_the_cache_the_bootstrap_made_is_kept(tmp_path: Path) -> None:
    """The same hook, on a base without links: it copies (so the test above can fail)."""
    rootfs, lists = tmp_path / "rootfs", tmp_path / "lists"
    (rootfs / "var/cache/apt").mkdir(parents=True)
    (rootfs / "var/cache/apt/srcpkgcache.bin").write_text("apt's\n")
    lists.mkdir()
    subprocess.run(["sh", "-c", _keep_cache_hook(lists), "sh", str(rootfs)], check=True)
    assert (lists / "devbox-srcpkgcache.bin").read_text() == "apt's\n"
    assert sorted(p.name for p in lists.iterdir()) == ["devbox-srcpkgcache.bin"]
