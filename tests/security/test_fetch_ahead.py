"""A cold build keeps what the base's bootstrap made beside the suite's shared lists: apt's
cache of them (devbox/build/steps.py). The bootstrap has run the maintainer scripts of the
base's packages by then, so the hook that copies it follows no link: a link at the file or at
`var/cache/apt` leaves nothing in the shared cache, and no host file is read. The shared cache
is written by apt steps too, so a link planted there is replaced, never written through; and
the essential hook copies no link out of the shared archives into the base. The fetch ahead
itself reads nothing from the base being bootstrapped (its lists are its own update's)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devbox.build import steps

pytestmark = pytest.mark.integration


def _keep_cache_hook(lists: Path) -> str:
    out = lists.parent / "out"  # the build's private out dir
    out.mkdir(exist_ok=True)
    argv = steps.mmdebstrap_argv("m", "s", "/t", "http://m", "/c", str(out), lists=str(lists))
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


def test_a_link_planted_in_the_shared_lists_is_replaced_not_written_through(
    tmp_path: Path,
) -> None:
    """An apt step (box code, root in its box) can write the suite's lists dir: a link where the
    kept cache goes, pointing at a host file, is replaced; the host file is untouched."""
    rootfs, lists = tmp_path / "rootfs", tmp_path / "lists"
    (rootfs / "var/cache/apt").mkdir(parents=True)
    (rootfs / "var/cache/apt/srcpkgcache.bin").write_text("apt's\n")
    lists.mkdir()
    victim = tmp_path / "host file"
    victim.write_text("host\n")
    for name in ("devbox-srcpkgcache.bin", "devbox-srcpkgcache.bin.tmp"):  # any name it might use
        (lists / name).symlink_to(victim)
    subprocess.run(["sh", "-c", _keep_cache_hook(lists), "sh", str(rootfs)], check=True)
    assert victim.read_text() == "host\n"
    kept = lists / "devbox-srcpkgcache.bin"
    assert not kept.is_symlink() and kept.read_text() == "apt's\n"


def test_the_essential_hook_copies_no_link_from_the_shared_archives(tmp_path: Path) -> None:
    cache, fetch, rootfs = tmp_path / "cache", tmp_path / "fetch", tmp_path / "rootfs"
    cache.mkdir()
    fetch.mkdir()
    (rootfs / "var/cache/apt/archives").mkdir(parents=True)
    (tmp_path / "secret").write_text("host secret\n")
    (cache / "a_1_amd64.deb").write_text("deb\n")
    (cache / "b_1_amd64.deb").symlink_to(tmp_path / "secret")  # planted after the fetch
    (fetch / "fetched").write_text("a_1_amd64.deb\nb_1_amd64.deb\n")
    argv = steps.mmdebstrap_argv(
        "m", "s", "/t", "http://m", str(cache), "/o", fetch=str(fetch)
    )  # fmt: skip
    hook = next(a for a in argv if a.startswith("--essential-hook="))
    script = hook.removeprefix("--essential-hook=")
    subprocess.run(["sh", "-c", script, "sh", str(rootfs)], check=True)
    got = rootfs / "var/cache/apt/archives"
    assert sorted(p.name for p in got.iterdir()) == ["a_1_amd64.deb"]
