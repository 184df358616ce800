"""`devbox ls` over a store built by hand: boxes, shared layers, sizes, users, last use."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devbox.commands.columns import human
from devbox.commands.listing import listing
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
    head, api, web = lines[1], lines[2], lines[3]
    assert head.split() == ["BOX", "PATH", "LAYERS", "SIZE", "WRITABLE", "LAST", "USED", "STATE"]
    assert api.split() == [
        "api",
        str(tmp_path / "src" / "api"),
        "(gone)",
        "2",
        "215.0",
        "MiB",
        "0.0",
        "MiB",
        *_stamp(UPDATED).split(),
    ]
    upper = disk_usage(ProjectPaths(st.project_dir(tmp_path / "src" / "webapp")).upper)
    assert upper > 0
    assert web.split() == [
        "webapp",
        str(tmp_path / "src" / "webapp"),
        "2",
        "241.7",
        "MiB",
        f"{upper / MiB:.1f}",
        "MiB",
        *_stamp(STARTED).split(),  # run/ changed after the last build
    ]
    assert "running" not in web and "(gone)" not in web
    # columns line up: sizes right-aligned under their header
    for column in ("SIZE", "WRITABLE"):
        end = head.index(column) + len(column)
        assert api[end - 4 : end] == web[end - 4 : end] == " MiB"
    assert api.index(_stamp(UPDATED)) == web.index(_stamp(STARTED)) == head.index("LAST USED")


def test_layers_counted_once_in_kind_order_with_their_users(st: Store) -> None:
    lines = listing(st)
    start = lines.index("layers:")
    incomplete = disk_usage(st.layer_dir(INCOMPLETE)) / MiB
    assert lines[start + 1 : -1] == [
        "  ID            LAYER                       BUILT ON       SIZE  USED BY",
        f"  {BASE[:12]}  base debian:bookworm        tier 1    177.4 MiB  api (gone), webapp",
        f"  {APT[:12]}  apt sudo postgresql-client  tier 1     64.3 MiB  webapp",
        f"  {UNUSED[:12]}  setup (1 step(s))           tier 1      0.0 MiB"
        "  unused (devbox gc frees it)",
        f"  {SETUP_API[:12]}  setup (2 step(s))           tier 1     37.6 MiB"
        "  api (gone); devbox gc frees it",
        f"  {INCOMPLETE[:12]}  (incomplete)                -      {incomplete:>8.1f} MiB"
        "  unused (devbox gc frees it)",
    ]


def test_total_counts_shared_layers_once_plus_writable_and_caches(
    st: Store, tmp_path: Path
) -> None:
    layers = (
        int(177.4 * MiB) + int(64.3 * MiB) + int(37.6 * MiB) + disk_usage(st.layer_dir(INCOMPLETE))
    )
    upper = disk_usage(ProjectPaths(st.project_dir(tmp_path / "src" / "webapp")).upper)
    caches = disk_usage(st.cache)
    assert caches > 0
    total = (layers + upper + caches) / MiB
    assert listing(st)[-1] == (
        f"store: {st.root}  total {total:.1f} MiB on disk "
        f"(shared layers counted once), caches {caches / MiB:.1f} MiB"
    )


def test_missing_layers_and_unrecorded_projects_do_not_break_it(st: Store) -> None:
    register_project(st, Path("/nonexistent/proj"), "zz", [BASE, "9" * 64])
    odd = st.projects / "0123456789abcdef"
    odd.mkdir()
    (odd / "project.json").write_text("{not json")
    lines = listing(st)
    zz = next(line for line in lines if line.startswith("  zz "))
    assert "2 (1 missing)" in zz and "177.4 MiB" in zz and "(gone)" in zz
    assert any("0123456789abcdef" in line and "(not recorded)" in line for line in lines)


def _layer(st: Store, digest: str, kind: str, title: str, **fields: Any) -> None:
    d = st.layer_dir(digest)
    (d / "rootfs").mkdir(parents=True)
    meta: dict[str, Any] = {"digest": digest, "kind": kind, "parent": None, "title": title}
    meta["recipe"] = {}
    meta |= {"size": 0, "created": UPDATED, "tier": 2, "packages": {}, "arch": "amd64"}
    (d / "meta.json").write_text(json.dumps(meta | fields))


def test_layers_of_the_same_request_are_told_apart(tmp_path: Path) -> None:
    """Two `node 20` layers (on two suites, resolved to two versions) are two distinct rows,
    and sizes of very different scale share one unit."""
    st = Store(tmp_path / "store")
    _layer(st, "1" * 64, "debian", "base debian:bookworm", recipe={"suite": "bookworm"},
           size=3 * 2**30)  # fmt: skip
    _layer(st, "2" * 64, "debian", "base debian:trixie", recipe={"suite": "trixie"}, size=2**20)
    node = {"recipe": {"version": "20", "arch": "x64"}, "size": 500}
    _layer(st, "3" * 64, "node", "node 20 (npm registry)", parent="1" * 64,
           pins={"version": "20.18.0", "url": "u"}, **node)  # fmt: skip
    _layer(st, "4" * 64, "node", "node 20 (npm registry)", parent="2" * 64,
           pins={"version": "20.19.1", "url": "u"}, **node)  # fmt: skip
    for name, stack in (("a", ["1" * 64, "3" * 64]), ("b", ["2" * 64, "4" * 64])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "devbox.toml").write_text('[box]\nbase = "debian:bookworm"\n')
        register_project(st, tmp_path / name, name, stack)
    rows = listing(st)
    nodes = [line for line in rows if " node 20 " in line]
    assert nodes == [
        f"  {'3' * 12}  node 20 (npm registry) = 20.18.0  bookworm, tier 2  0.0 GiB  a",
        f"  {'4' * 12}  node 20 (npm registry) = 20.19.1  trixie, tier 2    0.0 GiB  b",
    ]
    assert f"  {'1' * 12}  base debian:bookworm" in rows[rows.index("layers:") + 2]
    assert rows[rows.index("layers:") + 2].endswith("bookworm, tier 2  3.0 GiB  a")
    sizes = [line.split("tier 2")[1].split()[1] for line in rows if "tier 2" in line]
    assert set(sizes) == {"GiB"}  # one unit in the column


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
