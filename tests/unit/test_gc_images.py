"""`devbox gc` over a store with images in it: image layers live through a live image base's
lowers, image records through its pins, cached blobs through a kept record; pulls that died
leave no staging dir, and a pull under way keeps the cache as it is."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox.commands.gc import collect
from devbox.commands.imagestore import on_disk
from devbox.sandbox.host import Tier
from devbox.store.fs import flocked
from devbox.store.paths import Store
from tests.fake_images import (
    B1,
    B2,
    B3,
    CA,
    CB,
    CX,
    IL1,
    IL2,
    IL3,
    IL4,
    JUNK,
    MA,
    MB,
    OCI_A,
    OCI_B,
    make_image_store,
)
from tests.helpers import UPDATED

TIER1 = Tier(1, 0, 0, "root")
DAY = 86400.0


@pytest.fixture
def st(tmp_path: Path) -> Store:
    return make_image_store(tmp_path)


def _blobs(st: Store) -> set[str]:
    return {p.name for p in (st.blobs / "sha256").iterdir()}


def _records(st: Store) -> set[str]:
    return {p.name.removesuffix(".json") for p in st.images.iterdir()}


def test_what_a_live_image_base_names_stays_and_the_rest_goes(st: Store) -> None:
    gone_bytes = sum(on_disk(st.blobs / "sha256" / b) for b in (CB, CX, B3, JUNK))
    freed = collect(st, TIER1)
    left = {p.name for p in st.layers.iterdir()}
    assert left == {OCI_A, IL1, IL2}, "IL1 stays: the live image shares it with the dead one"
    assert _records(st) == {MA}
    assert _blobs(st) == {CA, B1, B2}
    assert freed.image_layers == 2  # IL3 and IL4; OCI_B is a layer, not an image layer
    assert (freed.blobs, freed.blob_bytes) == (4, gone_bytes)
    assert freed.counts() == ["2 image layers", f"4 cached blobs ({gone_bytes / 2**20:.1f} MiB)"]
    what = [w for w, _ in freed.items]
    assert "image record registry.test:5000/old:1" in what
    assert "image record registry.test:5000/gone:1" in what
    assert ("4 cached blob(s) no kept image names", gone_bytes) in freed.items


def test_a_dry_run_counts_the_same_and_deletes_nothing(st: Store) -> None:
    layers, records, blobs = set(os.listdir(st.layers)), _records(st), _blobs(st)
    freed = collect(st, TIER1, dry_run=True)
    assert (freed.image_layers, freed.blobs) == (2, 4)
    assert set(os.listdir(st.layers)) == layers
    assert (_records(st), _blobs(st)) == (records, blobs)


def test_a_store_without_images_counts_none(tmp_path: Path) -> None:
    freed = collect(Store(tmp_path / "empty"), TIER1)
    assert freed.counts() == [] and freed.items == []


def test_older_than_keeps_a_recent_image_base_with_its_layers_records_and_blobs(
    st: Store,
) -> None:
    """oldimg was used 10 days ago: with a 30-day cutoff its image base stays, and so does what
    it names (IL3 by its lowers, MB by its pins, CB and B3 through MB)."""
    for layer in st.layers.iterdir():
        os.utime(layer, (UPDATED - 100 * DAY, UPDATED - 100 * DAY))
    freed = collect(st, TIER1, older_than=30 * DAY, now=UPDATED + 10 * DAY)
    assert {p.name for p in st.layers.iterdir()} == {OCI_A, OCI_B, IL1, IL2, IL3}
    assert _records(st) == {MA, MB}
    assert _blobs(st) == {CA, CB, B1, B2, B3}
    assert freed.image_layers == 1 and freed.blobs == 2  # IL4; CX and JUNK


def test_an_image_layer_being_built_is_kept(st: Store) -> None:
    with flocked(st.layer_lock(IL4)):
        freed = collect(st, TIER1)
    assert st.layer_dir(IL4).is_dir()
    assert freed.image_layers == 1  # IL3 only


def test_an_image_base_being_built_keeps_its_lowers(st: Store) -> None:
    with flocked(st.layer_lock(OCI_B)):
        collect(st, TIER1)
    assert {IL3, OCI_B} <= {p.name for p in st.layers.iterdir()}
    assert MB in _records(st) and {CB, B3} <= _blobs(st)


@pytest.fixture
def pull_under_way(st: Store) -> Iterator[Path]:
    """A pull staging in Store.oci/.tmp-live, holding its lock."""
    tmp = st.oci / ".tmp-live"
    (tmp / "blobs").mkdir(parents=True)
    with flocked(st.oci / ".tmp-live.lock"):
        yield tmp


def test_a_pull_under_way_keeps_its_staging_dir_and_every_blob_and_record(
    st: Store, pull_under_way: Path
) -> None:
    blobs, records = _blobs(st), _records(st)
    freed = collect(st, TIER1)
    assert pull_under_way.is_dir() and (st.oci / ".tmp-live.lock").exists()
    assert (_blobs(st), _records(st)) == (blobs, records)
    assert freed.blobs == 0
    assert "image records and cached blobs: a pull is under way" in freed.kept
    assert freed.image_layers == 2, "image layers are judged as before"


def test_staging_dirs_of_pulls_that_died_go_with_their_locks(st: Store) -> None:
    dead = st.oci / ".tmp-dead"
    (dead / "sub").mkdir(parents=True)
    (dead / "sub" / "partial").write_bytes(b"p" * 100)
    (st.oci / ".tmp-dead.lock").touch()
    (st.oci / ".tmp-nolock").mkdir()  # died before it took its lock
    (st.oci / ".tmp-orphan.lock").touch()  # a lock left without its dir
    dry = collect(st, TIER1, dry_run=True)
    staged = [w for w, _ in dry.items if w.startswith("staging dir")]
    assert staged == [
        "staging dir of a pull that died: .tmp-dead",
        "staging dir of a pull that died: .tmp-nolock",
    ]
    assert dead.is_dir() and not (st.oci / ".tmp-nolock.lock").exists(), "dry run: nothing made"
    freed = collect(st, TIER1)
    assert [w for w, _ in freed.items if w.startswith("staging dir")] == staged
    assert sorted(p.name for p in st.oci.iterdir()) == ["blobs", "images"]
    assert freed.blobs == 4, "no pull under way: the cache is judged"


def test_damaged_metas_and_records_do_not_break_it(st: Store) -> None:
    (st.layer_dir(OCI_A) / "meta.json").write_text("{not json")
    (st.images / f"{MB}.json").write_text("[]")
    (st.images / ".tmp-record.json.new").write_text("{}")  # not a record: left alone
    collect(st, TIER1)
    # webimg is live, so OCI_A stays; with its meta unreadable its lowers are unknown and go
    assert st.layer_dir(OCI_A).is_dir()
    assert not st.layer_dir(IL1).exists()
    assert not (st.images / f"{MB}.json").exists()
    assert (st.images / ".tmp-record.json.new").exists()
    assert _blobs(st) == set()


def test_image_layers_named_in_a_project_stack_stay(st: Store, tmp_path: Path) -> None:
    """A stack recorded already expanded (image layers in it) keeps them too."""
    from tests.helpers import add_project

    add_project(st, tmp_path / "src" / "flat", "flat", [IL4, OCI_B], spec=True, updated=UPDATED)
    collect(st, TIER1)
    assert {p.name for p in st.layers.iterdir()} == {OCI_A, OCI_B, IL1, IL2, IL3, IL4}
    assert _records(st) == {MA, MB}
    assert _blobs(st) == {CA, CB, B1, B2, B3} and CX not in _blobs(st)
