"""`store.layers.expand`: a box's stack as overlay lower dirs, each image base ("oci" layer)
with its image's layers right below it, bottom first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devbox.store.layers import LayerMeta, expand, read_meta
from devbox.store.paths import Store

IMG1, IMG2, IMG3, OCI, APT, SETUP, OCI2 = (c * 64 for c in "1234567")


def _layer(st: Store, digest: str, kind: str, **fields: Any) -> None:
    d = st.layer_dir(digest)
    (d / "rootfs").mkdir(parents=True)
    meta = LayerMeta(digest, kind, None, {}, kind, 0, 0.0, 2, {}, "amd64", **fields)
    (d / "meta.json").write_text(json.dumps(meta.to_json()))


@pytest.fixture
def st(tmp_path: Path) -> Store:
    st = Store(tmp_path / "store")
    for digest in (IMG1, IMG2, IMG3):
        _layer(st, digest, "image-layer")
    _layer(st, OCI, "oci", lowers=[IMG1, IMG2, IMG3])
    _layer(st, APT, "apt")
    _layer(st, SETUP, "setup")
    return st


def test_a_stack_without_image_bases_is_itself(st: Store) -> None:
    assert expand(st, [APT, SETUP]) == [APT, SETUP]
    assert expand(st, []) == []


def test_an_image_base_brings_its_layers_below_it_bottom_first(st: Store) -> None:
    assert expand(st, [OCI, APT, SETUP]) == [IMG1, IMG2, IMG3, OCI, APT, SETUP]


def test_lowers_round_trip_through_meta_json(st: Store) -> None:
    assert read_meta(st, OCI).lowers == [IMG1, IMG2, IMG3]
    assert read_meta(st, APT).lowers is None


def test_two_image_bases_each_bring_their_own(st: Store) -> None:
    _layer(st, OCI2, "oci", lowers=[IMG3])
    assert expand(st, [OCI, OCI2]) == [IMG1, IMG2, IMG3, OCI, IMG3, OCI2]


def test_an_image_with_no_layers_is_the_oci_layer_alone(st: Store) -> None:
    _layer(st, OCI2, "oci", lowers=[])
    assert expand(st, [OCI2, APT]) == [OCI2, APT]


def test_missing_or_damaged_metas_are_left_as_they_are(st: Store) -> None:
    missing = "9" * 64
    (st.layer_dir(APT) / "meta.json").write_text("{not json")
    assert expand(st, [missing, OCI, APT]) == [missing, IMG1, IMG2, IMG3, OCI, APT]
    (st.layer_dir(APT) / "meta.json").write_text("[1, 2]")  # json, not an object
    assert expand(st, [APT]) == [APT]


def test_only_names_in_lowers_are_taken(st: Store) -> None:
    """A lowers list with junk in it (written by hand, or by an older devbox) keeps its strings."""
    meta = json.loads((st.layer_dir(OCI) / "meta.json").read_text())
    meta["lowers"] = [IMG1, 7, None, IMG2]
    (st.layer_dir(OCI) / "meta.json").write_text(json.dumps(meta))
    assert expand(st, [OCI]) == [IMG1, IMG2, OCI]
    meta["lowers"] = IMG1  # not a list
    (st.layer_dir(OCI) / "meta.json").write_text(json.dumps(meta))
    assert expand(st, [OCI]) == [OCI]
