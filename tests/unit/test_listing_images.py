"""`devbox ls` over a store with images in it: a box's size includes its image layers, an image
layer names every box that uses it, and a line tells the blob cache and the image layers boxes
share (counted once in the total)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox.commands.imagestore import on_disk
from devbox.commands.listing import listing
from devbox.commands.listing_json import listing_json
from devbox.store.fs import disk_usage
from devbox.store.paths import Store
from tests.fake_images import (
    BLOB_BYTES,
    IL1,
    IL2,
    IL3,
    IL4,
    IMAGE_LAYER_SIZES,
    OCI_A,
    OCI_B,
    make_image_store,
)
from tests.helpers import BASE, MiB, add_layer, add_project


@pytest.fixture
def st(tmp_path: Path) -> Store:
    return make_image_store(tmp_path)


def _blob_bytes(st: Store) -> int:
    return sum(on_disk(st.blobs / "sha256" / b) for b in BLOB_BYTES)


def test_a_box_counts_its_image_layers_in_its_size_and_layers(st: Store) -> None:
    lines = listing(st)
    old = next(line for line in lines if line.startswith("  oldimg "))
    web = next(line for line in lines if line.startswith("  webimg "))
    assert " 3 (2 image) " in old and " 85.0 MiB " in old  # IL1 80 + IL3 5 + the base's 0
    assert " 3 (2 image) " in web and " 100.0 MiB " in web  # IL1 80 + IL2 20


def test_image_layers_name_every_box_that_uses_them(st: Store) -> None:
    lines = listing(st)
    row = {
        d: next(line for line in lines if line.startswith(f"  {d[:12]}")) for d in IMAGE_LAYER_SIZES
    }
    assert row[IL1].endswith("oldimg (gone), webimg")
    assert row[IL2].endswith("  webimg")
    assert row[IL3].endswith("  oldimg (gone); devbox gc frees it")
    assert row[IL4].endswith("  unused (devbox gc frees it)")
    first = lines.index("layers:") + 2
    assert [line.split()[0] for line in lines[first : first + 4]] == [
        d[:12] for d in (IL1, IL2, IL3, IL4)
    ], "image layers first (the bottom of their boxes), then the image bases"
    assert lines[first + 4].split()[0] in (OCI_A[:12], OCI_B[:12])


def test_a_line_for_the_blob_cache_and_shared_image_layers(st: Store) -> None:
    lines = listing(st)
    blobs = _blob_bytes(st) / MiB
    assert lines[-2] == (
        f"images: 7 cached blobs ({blobs:.1f} MiB), "
        "1 image layer shared by several boxes (80.0 MiB)"
    )


def test_the_total_counts_shared_image_layers_once_and_the_images_dir(st: Store) -> None:
    layers = sum(IMAGE_LAYER_SIZES.values())  # the image bases are 0
    total = (layers + disk_usage(st.oci)) / MiB
    assert lines_total(listing(st)) == f"{total:.1f} MiB"


def lines_total(lines: list[str]) -> str:
    return lines[-1].split("total ")[1].split(" on disk")[0]


def test_no_images_line_in_a_store_without_images(tmp_path: Path) -> None:
    st = Store(tmp_path / "store")
    add_layer(st, BASE, "debian", "base debian:bookworm", 10 * MiB)
    add_project(st, tmp_path / "p", "p", [BASE], spec=True, updated=0.0)
    assert not any(line.startswith("images:") for line in listing(st))
    assert listing_json(st)["blob_cache"] == {"count": 0, "bytes": 0}


def test_json_tells_the_same(st: Store, tmp_path: Path) -> None:
    doc = listing_json(st)
    assert doc["blob_cache"] == {"count": 7, "bytes": _blob_bytes(st)}
    assert doc["shared_image_layers"] == {"count": 1, "bytes": 80 * MiB}
    assert doc["images_bytes"] == disk_usage(st.oci)
    web = next(b for b in doc["boxes"] if b["name"] == "webimg")
    assert web["layers"] == [OCI_A]
    assert web["image_layers"] == [IL1, IL2]
    assert web["size_bytes"] == 100 * MiB
    assert web["missing_layers"] == []
    il1 = next(r for r in doc["layers"] if r["digest"] == IL1)
    assert il1["kind"] == "image-layer"
    assert il1["used_by"] == [str(tmp_path / "src" / "oldimg"), str(tmp_path / "src" / "webimg")]


def test_a_missing_image_layer_is_counted_missing(st: Store) -> None:
    import shutil

    shutil.rmtree(st.layer_dir(IL2))
    web = next(line for line in listing(st) if line.startswith("  webimg "))
    assert " 3 (2 image, 1 missing) " in web and " 80.0 MiB " in web
    doc = listing_json(st)
    assert next(b for b in doc["boxes"] if b["name"] == "webimg")["missing_layers"] == [IL2]
