"""A cold build fetches the `.deb`s of the base's second half and of the apt layer above it while
mmdebstrap bootstraps (devbox/build/ahead.py): the apt layer then downloads nothing; a fetch
stopped by Ctrl-C or SIGTERM leaves no layer and no process; a fetch that fails changes nothing
and fails nothing. Each build here starts from an empty store of its own."""

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
    apt_step = log.split("\n$ ")[-1]  # the apt layer's step, the last command of the build
    assert "Need to get 0 B/" in apt_step and "Get:" not in apt_step, apt_step[-2000:]
    assert not [d for d in layer_dirs(fresh.store) if d.startswith(".tmp-")]
    assert fresh("run", "--", "pv", "--version", cwd=project).returncode == 0
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
    while "(fetching ahead) apt-get -qq --print-uris" not in (
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


def test_a_fetch_that_never_gets_its_lists_changes_nothing_and_raises_nothing(
    tmp_path: Path,
) -> None:
    """mmdebstrap failed before its lists were there, or went on without them: the fetch ends
    with the bootstrap, and says why in the log."""
    archives, rootfs = tmp_path / "archives", tmp_path / "rootfs"
    archives.mkdir()
    (rootfs / "var/lib/apt/lists").mkdir(parents=True)
    (rootfs / "var/lib/apt/lists/x_Packages").symlink_to("/etc/passwd")  # never followed
    fetch = ahead.Fetch(
        root=tmp_path / "fetch", archives=archives, suite="bookworm",
        mirror="http://deb.debian.org/debian", packages=("jq",), tier=host.current_tier(),
        log=tmp_path / "log", lists_from=rootfs,
    )  # fmt: skip
    with ahead.running(fetch):
        time.sleep(0.3)
    assert fetch.error == "the bootstrap went on without it"
    assert list(archives.iterdir()) == [] and not fetch.list_file.exists()
    assert not (tmp_path / "fetch/lists/x_Packages").exists()
    assert _procs_mentioning(str(tmp_path)) == []


def test_a_fetch_whose_resolution_fails_changes_nothing(tmp_path: Path) -> None:
    """Lists apt cannot use (here: for another mirror than the fetch's sources): apt resolves
    nothing, the fetch says so, nothing is downloaded."""
    archives, rootfs = tmp_path / "archives", tmp_path / "rootfs"
    lists = rootfs / "var/lib/apt/lists"
    lists.mkdir(parents=True)
    (lists / "elsewhere_dists_bookworm_InRelease").write_text("")
    (lists / "elsewhere_dists_bookworm_main_binary-amd64_Packages").write_text("")
    archives.mkdir()
    fetch = ahead.Fetch(
        root=tmp_path / "fetch", archives=archives, suite="bookworm",
        mirror="http://deb.debian.org/debian", packages=("jq",), tier=host.current_tier(),
        log=tmp_path / "log", lists_from=rootfs,
    )  # fmt: skip
    with ahead.running(fetch):
        pass
    assert fetch.error == "apt found no essential package in the lists"
    assert list(archives.iterdir()) == []
    assert _procs_mentioning(str(tmp_path)) == []
