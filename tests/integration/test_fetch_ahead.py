"""A cold build fetches its `.deb`s a few at a time (devbox/build/ahead.py): the essential ones
before mmdebstrap would download them (it then downloads nothing, and skips its own update),
the rest of the base's and the apt layer's while the base bootstraps (the apt layer then
downloads nothing); a fetch stopped by Ctrl-C or SIGTERM leaves no layer and no process; a
fetch that fails changes nothing and fails nothing. Each build starts from an empty store."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from devbox.build import ahead
from devbox.sandbox import host
from tests.helpers import Devbox, MakeProject, layer_dirs

pytestmark = pytest.mark.integration

SPEC = '[box]\nbase = "debian:bookworm"\n[packages]\napt = ["pv", "lzop"]\n'


def _log(store: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted((store / "logs").glob("*.log")))


def _archives(store: Path) -> set[str]:
    return {p.name for p in (store / "cache" / "apt").glob("bookworm-*/archives/*.deb")}


def _procs_mentioning(text: str) -> list[str]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmd:
                found.append(f"{d.name}: {cmd[:120]}")
    return found


def test_a_cold_build_fetches_the_apt_layers_packages_while_the_base_bootstraps(
    devbox: Devbox, make_project: MakeProject, tmp_path: Path
) -> None:
    fresh = Devbox(tmp_path / "cold store")
    project = make_project("cold", SPEC)
    fresh("build", cwd=project, check=True)
    log = _log(fresh.store)
    fetched = [ln for ln in log.splitlines() if ln.startswith("devbox: fetched ")]
    assert len(fetched) == 1 and not fetched[0].startswith("devbox: fetched 0 "), fetched
    debs = _archives(fresh.store)
    assert any(d.startswith("pv_") for d in debs) and any(d.startswith("liblzo2-2_") for d in debs)
    assert "I: skipping apt-get update because it was already run" in log  # the fetch's lists
    assert "the essential packages are in the cache (" in log
    # every .deb in the cache is one the fetch brought: neither mmdebstrap nor apt got one
    assert len(debs) == int(fetched[0].split()[2]), (len(debs), fetched)
    apt_step = log.split("\n$ ")[-1]  # the apt layer's step, the last command of the build
    assert "Need to get 0 B/" in apt_step and "Get:" not in apt_step, apt_step[-2000:]
    assert not [d for d in layer_dirs(fresh.store) if d.startswith(".tmp-")]
    assert fresh("run", "--", "pv", "--version", cwd=project).returncode == 0
    # the apt steps on this suite reuse the cache of the lists the bootstrap's apt made: an
    # apt that found it stale would write a new one in its place
    kept = next((fresh.store / "cache" / "apt").glob("bookworm-*/lists/devbox-srcpkgcache.bin"))
    inode = kept.stat().st_ino
    (project / "devbox.toml").write_text(SPEC.replace('"lzop"]', '"lzop", "tree"]'))
    fresh("build", cwd=project, check=True)
    assert kept.stat().st_ino == inode
    # the base layer holds no trace of it: no lists, no .debs, as mmdebstrap leaves a base
    base = next(m.parent for m in (fresh.store / "layers").glob("*/meta.json")
                if '"kind": "debian"' in m.read_text())  # fmt: skip
    assert sorted(p.name for p in (base / "rootfs/var/lib/apt/lists").iterdir()) == [
        "lock", "partial",
    ]  # fmt: skip
    assert not list((base / "rootfs/var/cache/apt/archives").glob("*.deb"))


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_a_build_stopped_while_it_fetches_ahead_leaves_nothing_behind(
    devbox: Devbox, make_project: MakeProject, tmp_path: Path, how: str
) -> None:
    fresh = Devbox(tmp_path / f"store {how}")
    project = make_project(f"stopped {how}", SPEC)
    proc = fresh.popen(
        "build", cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while "apt-get -qq --print-uris" not in (
        _log(fresh.store) if (fresh.store / "logs").is_dir() else ""
    ):  # its update is done: both run now
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert layer_dirs(fresh.store) == set()
    assert _procs_mentioning(str(fresh.store)) == [], "a fetch outlived its build"
    assert not (project / "devbox.lock").exists()


def test_a_fetch_whose_update_fails_lets_the_bootstrap_go_on_and_changes_nothing(
    tmp_path: Path,
) -> None:
    """A mirror the fetch cannot reach: its update fails, it says so in the log, it makes the
    file the bootstrap waits for at once (mmdebstrap then updates and downloads itself), and
    nothing is fetched; no process is left."""
    archives = tmp_path / "archives"
    archives.mkdir()
    fetch = ahead.Fetch(
        root=tmp_path / "fetch", archives=archives, suite="bookworm",
        mirror="http://127.0.0.1:9/debian", packages=("jq",), tier=host.current_tier(),
        log=tmp_path / "log",
    )  # fmt: skip
    with ahead.running(fetch):
        deadline = time.monotonic() + 60
        while not fetch.ready.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert fetch.error.startswith("apt-get failed"), fetch.error
    assert "apt-get -qq update" in (tmp_path / "log").read_text()
    assert not (tmp_path / "fetch/updated").exists()  # so mmdebstrap runs its own update
    assert list(archives.iterdir()) == [] and not fetch.list_file.exists()
    assert _procs_mentioning(str(tmp_path)) == []


def test_a_fetch_that_resolves_no_essential_package_changes_nothing(tmp_path: Path) -> None:
    """Lists that hold no essential package (bookworm-updates: a handful of packages, none of
    them essential): the update succeeds, the fetch says what it found, releases the bootstrap,
    and downloads nothing."""
    archives = tmp_path / "archives"
    archives.mkdir()
    fetch = ahead.Fetch(
        root=tmp_path / "fetch", archives=archives, suite="bookworm-updates",
        mirror="http://deb.debian.org/debian", packages=("jq",), tier=host.current_tier(),
        log=tmp_path / "log",
    )  # fmt: skip
    with ahead.running(fetch):
        deadline = time.monotonic() + 120
        while not fetch.ready.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    lists = "".join(p.read_text() for p in (tmp_path / "fetch/lists").glob("*_Packages"))
    if "\nEssential: yes" in lists:
        pytest.skip("bookworm-updates holds an essential package now")
    assert (tmp_path / "fetch/updated").exists()  # the lists themselves were good
    assert fetch.error == "apt found no essential package in the lists"
    assert list(archives.iterdir()) == [] and not fetch.list_file.exists()
    assert _procs_mentioning(str(tmp_path)) == []
