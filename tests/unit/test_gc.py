"""`devbox gc` over a store built by hand: what goes, what stays, and `--older-than`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devbox.commands.gc import collect, parse_duration
from devbox.sandbox.host import Tier
from devbox.store.paths import Store
from tests.helpers import (
    APT,
    BASE,
    INCOMPLETE,
    SETUP_API,
    UNUSED,
    UPDATED,
    make_fake_store,
)

DAY = 86400.0
TIER1 = Tier(1, 0, 0, "root")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * DAY),
        ("12h", 12 * 3600),
        ("90m", 90 * 60),
        ("45s", 45),
        ("2w", 14 * DAY),
        ("1d12h", 1.5 * DAY),
        (" 30D ", 30 * DAY),
        ("0s", 0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "1.5h", "-1d", "30 d", "3x", "1d-2h", "30days"])
def test_bad_durations_say_what_is_allowed(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a duration: expected a number and a unit"):
        parse_duration(text)


def _stamp(st: Store, digest: str, ts: float) -> None:
    os.utime(st.layer_dir(digest), (ts, ts))


@pytest.fixture
def st(tmp_path: Path) -> Store:
    """webapp (live: BASE, APT), api (its directory gone, last used UPDATED: BASE, SETUP_API),
    UNUSED (last used 60 days before UPDATED) and INCOMPLETE (a day before UPDATED)."""
    st = make_fake_store(tmp_path)
    for digest in (BASE, APT, SETUP_API):
        _stamp(st, digest, UPDATED - 100 * DAY)
    _stamp(st, UNUSED, UPDATED - 60 * DAY)
    _stamp(st, INCOMPLETE, UPDATED - DAY)
    return st


def _layers(items: list[str]) -> set[str]:
    return {w.split()[1] for w in items if w.startswith("layer ")}


def test_without_older_than_everything_no_live_project_uses_goes(st: Store) -> None:
    freed = collect(st, TIER1, dry_run=True, now=UPDATED + 365 * DAY)
    what = [w for w, _ in freed.items]
    assert _layers(what) == {d[:12] for d in (SETUP_API, UNUSED, INCOMPLETE)}
    assert any(w.startswith("project api ") for w in what)
    assert freed.kept == []
    assert all(st.layer_dir(d).is_dir() for d in (SETUP_API, UNUSED, INCOMPLETE)), "dry run"


def test_older_than_keeps_a_recently_used_dead_project_and_recent_layers(st: Store) -> None:
    # 10 days after api's last use, with a 30-day cutoff: api and its layer stay; UNUSED (70
    # days) goes; INCOMPLETE (11 days) stays.
    freed = collect(st, TIER1, dry_run=True, older_than=30 * DAY, now=UPDATED + 10 * DAY)
    assert _layers([w for w, _ in freed.items]) == {UNUSED[:12]}
    assert not any(w.startswith("project ") for w, _ in freed.items)
    assert any(w.startswith("project api ") for w in freed.kept)
    assert _layers(freed.kept) == {INCOMPLETE[:12]}  # SETUP_API is kept as api's, not listed


def test_a_layer_counts_as_used_when_a_project_that_recorded_it_was(st: Store) -> None:
    # SETUP_API's own stamp is old, but api (which recorded it) was used 20 days ago; once api
    # is past the cutoff too, both go.
    recent = collect(st, TIER1, dry_run=True, older_than=30 * DAY, now=UPDATED + 20 * DAY)
    assert SETUP_API[:12] not in _layers([w for w, _ in recent.items])
    old = collect(st, TIER1, dry_run=True, older_than=30 * DAY, now=UPDATED + 40 * DAY)
    assert _layers([w for w, _ in old.items]) == {d[:12] for d in (SETUP_API, UNUSED, INCOMPLETE)}


def test_older_than_deletes_only_what_it_selected(st: Store) -> None:
    now = UPDATED + 40 * DAY
    _stamp(st, UNUSED, now - 3600)  # used an hour ago (stamped by a build or a session)
    freed = collect(st, TIER1, older_than=30 * DAY, now=now)
    assert _layers(freed.kept) == {UNUSED[:12]}
    assert not st.layer_dir(SETUP_API).exists()
    assert not st.layer_dir(INCOMPLETE).exists()
    assert st.layer_dir(UNUSED).is_dir()
    assert st.layer_dir(BASE).is_dir() and st.layer_dir(APT).is_dir()  # webapp is live
    names = [json.loads((p / "project.json").read_text())["name"] for p in st.projects.iterdir()]
    assert names == ["webapp"]


def test_downloads_go_with_the_last_layer_built_from_them(tmp_path: Path) -> None:
    import hashlib

    st = make_fake_store(tmp_path)
    keep_sri, drop_sri = "sha512-kept", "sha512-gone"
    meta_path = st.layer_dir(APT) / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["pins"] = {"version": "20.18.0", "integrity": keep_sri, "packages": {}}
    meta_path.write_text(json.dumps(meta))
    st.downloads.mkdir(parents=True)
    for sri in (keep_sri, drop_sri):
        (st.downloads / hashlib.sha256(sri.encode()).hexdigest()[:32]).write_bytes(b"tgz")
    collect(st, TIER1)
    left = {p.name for p in st.downloads.iterdir()}
    assert left == {hashlib.sha256(keep_sri.encode()).hexdigest()[:32]}


def test_index_entries_of_dropped_projects_go_with_their_directories(tmp_path: Path) -> None:
    from devbox.store.paths import ProjectPaths, launcher_index
    from devbox.store.projects import write_index

    st = make_fake_store(tmp_path)
    web, api = tmp_path / "src" / "webapp", tmp_path / "src" / "api"
    for project in (web, api):
        launcher = ProjectPaths(st.project_dir(project)).launcher
        launcher.write_text("#!/bin/sh\n")
        assert write_index(project, st.root, launcher)
    stray = tmp_path / "elsewhere" / "deep"
    assert write_index(stray, st.root, tmp_path / "no such launcher")  # dangling from the start
    collect(st, TIER1, dry_run=True)
    assert launcher_index(api, st.root).is_symlink(), "dry run"
    collect(st, TIER1)
    assert launcher_index(web, st.root).is_file()
    assert not launcher_index(api, st.root).is_symlink()
    assert not launcher_index(api, st.root).parent.exists(), "its empty directory went too"
    assert not launcher_index(stray, st.root).parent.parent.exists(), "dangling: gone"
    assert st.by_path.is_dir()
