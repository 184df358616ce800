"""What a [setup] build asks of the layers below (which of the workdir's components they hold) is
answered from the layers alone: a symlink a layer planted (an image's, above all) is never
followed on the host, so what the host has cannot change the answer."""

from __future__ import annotations

from pathlib import Path

from devbox.build.builders.setup import _in_layer


def test_a_planted_symlink_is_not_followed_to_the_host(tmp_path: Path) -> None:
    with_marker, without = tmp_path / "host-a", tmp_path / "host-b"
    with_marker.mkdir()
    without.mkdir()
    (with_marker / "marker").mkdir()
    answers = []
    for target in (with_marker, without):
        layer = tmp_path / f"layer-{target.name}"
        layer.mkdir()
        (layer / "home").symlink_to(target)  # an absolute link, as an image may hold
        answers.append(_in_layer(layer, "home/marker"))
    assert answers == [True, True]  # the link counts; where it points does not matter


def test_what_a_layer_holds_and_lacks(tmp_path: Path) -> None:
    (tmp_path / "srv" / "app").mkdir(parents=True)
    (tmp_path / "file").write_text("x")
    assert _in_layer(tmp_path, "srv/app") and _in_layer(tmp_path, "srv")
    assert not _in_layer(tmp_path, "srv/other") and not _in_layer(tmp_path, "opt/x")
    assert _in_layer(tmp_path, "file/below")  # a file on the way: something is there
