"""`devbox ls` over a store built by hand: boxes, shared layers, sizes, users, last use."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox.commands.listing import human, listing
from devbox.sandbox.supervisor import SUPERVISOR_MARK
from devbox.store.fs import disk_usage
from devbox.store.paths import ProjectPaths, Store
from devbox.store.projects import register_project
from tests.helpers import (
    APT,
    BASE,
    INCOMPLETE,
    SETUP_API,
    STARTED,
    UNUSED,
    UPDATED,
    MiB,
    make_fake_store,
)


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


@pytest.fixture
def st(tmp_path: Path) -> Store:
    return make_fake_store(tmp_path)


def test_empty_store_says_how_to_make_a_box(tmp_path: Path) -> None:
    st = Store(tmp_path / "nothing-here")
    assert listing(st) == ["no boxes yet (devbox build makes one)", f"store: {st.root}"]


def test_boxes_sorted_by_name_with_sizes_and_state(st: Store, tmp_path: Path) -> None:
    lines = listing(st)
    assert lines[0] == "boxes (projects):"
    api, web = lines[1], lines[2]
    assert api.split() == [
        "api",
        str(tmp_path / "src" / "api"),
        "(gone)",
        "2",
        "layers",
        *human(int(177.4 * MiB) + int(37.6 * MiB)).split(),
        "writable",
        "0",
        "B",
        "used",
        *_stamp(UPDATED).split(),
    ]
    upper = disk_usage(ProjectPaths(st.project_dir(tmp_path / "src" / "webapp")).upper)
    assert upper > 0
    assert web.split() == [
        "webapp",
        str(tmp_path / "src" / "webapp"),
        "2",
        "layers",
        "241.7",
        "MiB",
        "writable",
        *human(upper).split(),
        "used",
        *_stamp(STARTED).split(),  # run/ changed after the last build
    ]
    assert "running" not in web and "(gone)" not in web
    # columns line up
    assert api.index("2 layers") == web.index("2 layers")
    assert api.index("used ") == web.index("used ")


def test_layers_counted_once_in_kind_order_with_their_users(st: Store) -> None:
    lines = listing(st)
    start = lines.index("layers:")
    incomplete = human(disk_usage(st.layer_dir(INCOMPLETE)))
    assert lines[start + 1 : -1] == [
        f"  {BASE[:12]}  base debian:bookworm        177.4 MiB  used by api (gone), webapp",
        f"  {APT[:12]}  apt sudo postgresql-client   64.3 MiB  used by webapp",
        f"  {UNUSED[:12]}  setup (1 step(s))                 0 B  unused (devbox gc frees it)",
        f"  {SETUP_API[:12]}  setup (2 step(s))            37.6 MiB"
        "  used by api (gone); devbox gc frees it",
        f"  {INCOMPLETE[:12]}  (incomplete)                {incomplete:>9}"
        "  unused (devbox gc frees it)",
    ]
    assert not any(".tmp-" in line or "ffff" in line for line in lines)


def test_total_counts_shared_layers_once_plus_writable_and_caches(
    st: Store, tmp_path: Path
) -> None:
    layers = (
        int(177.4 * MiB) + int(64.3 * MiB) + int(37.6 * MiB) + disk_usage(st.layer_dir(INCOMPLETE))
    )
    upper = disk_usage(ProjectPaths(st.project_dir(tmp_path / "src" / "webapp")).upper)
    caches = disk_usage(st.cache)
    assert caches > 0
    assert listing(st)[-1] == (
        f"store: {st.root}  total {human(layers + upper + caches)} on disk "
        f"(shared layers counted once), caches {human(caches)}"
    )


def test_missing_layers_and_unrecorded_projects_do_not_break_it(st: Store) -> None:
    register_project(st, Path("/nonexistent/proj"), "zz", [BASE, "9" * 64])
    odd = st.projects / "0123456789abcdef"
    odd.mkdir()
    (odd / "project.json").write_text("{not json")
    lines = listing(st)
    zz = next(line for line in lines if line.startswith("  zz "))
    assert "2 layers (1 missing)" in zz and "177.4 MiB" in zz and "(gone)" in zz
    assert any("0123456789abcdef" in line and "(not recorded)" in line for line in lines)


@pytest.fixture
def running_supervisor(st: Store, tmp_path: Path) -> Iterator[None]:
    """A process that looks like webapp's supervisor (its protocol mark and its pid file are in
    its command line)."""
    p = ProjectPaths(st.project_dir(tmp_path / "src" / "webapp"))
    code = "import time; print('up', flush=True); time.sleep(60)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, SUPERVISOR_MARK, str(p.supervisor_pid)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        # its command line shows in /proc only once it runs (right after spawning it may be empty)
        assert proc.stdout.readline() == "up\n"
        p.supervisor_pid.write_text(f"{proc.pid}\n")
        yield
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


@pytest.mark.usefixtures("running_supervisor")
def test_running_box_is_marked(st: Store) -> None:
    web = next(line for line in listing(st) if line.startswith("  webapp "))
    assert web.endswith("  running")


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (int(242.1 * MiB), "242.1 MiB")],
)
def test_human_sizes(n: int, text: str) -> None:
    assert human(n) == text


def test_human_gib() -> None:
    assert human(3 * 2**30) == "3.0 GiB"
