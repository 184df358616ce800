"""Which apt caches a build step gets, and where a box hides the store: the shared caches go
only to apt over layers from the Debian archive (the end-to-end attack is
tests/security/test_cache.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devbox.build.builders.context import PRIVATE_APT, BuildContext
from devbox.build.progress import Display
from devbox.plan.recipe import from_archive
from devbox.sandbox import argv as sandbox
from devbox.sandbox.box import Box, store_masks
from devbox.spec.load import parse_spec
from devbox.store.layers import LayerBuild
from devbox.store.paths import Store

D1 = "a" * 64


@pytest.mark.parametrize(
    ("kind", "recipe", "trusted"),
    [
        ("debian", {"suite": "bookworm"}, True),
        ("apt", {"packages": ["git"]}, True),
        ("python", {"provider": "apt"}, True),
        ("node", {"provider": "apt"}, True),
        ("python", {"provider": "uv"}, False),
        ("node", {"provider": "npm"}, False),
        ("setup", {"run": ["make"]}, False),
        ("setup", {"run": ["make"], "provider": "apt"}, False),
        ("oci", {}, False),
    ],
)
def test_only_layers_from_the_debian_archive_are_trusted(
    kind: str, recipe: dict[str, Any], trusted: bool
) -> None:
    assert from_archive(kind, recipe) is trusted


def context(tmp_path: Path, *, from_archive: bool) -> BuildContext:
    store = Store(tmp_path / "store")
    return BuildContext(
        store=store, build=LayerBuild(store, D1), lowers=[], display=Display(),
        log=tmp_path / "log", label="", apt_cache_key="bookworm-0", project=tmp_path, workdir="/w",
        lowers_from_archive=from_archive,
    )  # fmt: skip


def seed_lists(ctx: BuildContext) -> Path:
    _, lists = ctx.apt_cache()
    (lists / "deb_Packages").write_text("Package: hello\n")
    (lists / "lock").write_text("")
    return lists


def test_apt_over_archive_layers_gets_the_shared_caches(tmp_path: Path) -> None:
    ctx = context(tmp_path, from_archive=True)
    assert ctx.step_caches(apt=True) == ctx.apt_cache()
    assert not (ctx.build.tmp / PRIVATE_APT).exists()


def test_apt_over_another_layer_gets_a_private_copy_of_the_lists(tmp_path: Path) -> None:
    ctx = context(tmp_path, from_archive=False)
    shared = seed_lists(ctx)
    archives, lists = ctx.step_caches(apt=True)
    assert archives.is_relative_to(ctx.build.tmp / PRIVATE_APT)
    assert lists.is_relative_to(ctx.build.tmp / PRIVATE_APT)
    assert sorted(p.name for p in lists.iterdir()) == ["deb_Packages", "partial"]
    assert sorted(p.name for p in archives.iterdir()) == ["partial"]
    (lists / "deb_Packages").write_text("poisoned\n")
    assert (shared / "deb_Packages").read_text() == "Package: hello\n"


@pytest.mark.parametrize("trusted", [True, False])
def test_any_other_step_gets_private_empty_caches(tmp_path: Path, trusted: bool) -> None:
    ctx = context(tmp_path, from_archive=trusted)
    seed_lists(ctx)
    archives, lists = ctx.step_caches(apt=False)
    assert lists.parent == archives.parent == ctx.build.tmp / PRIVATE_APT
    assert [p.name for p in lists.iterdir()] == ["partial"]
    assert [p.name for p in archives.iterdir()] == ["partial"]


def box_in(tmp_path: Path, store: Path, home: str = "isolated") -> Box:
    project = tmp_path / "proj"
    project.mkdir(exist_ok=True)
    text = f'[box]\nbase = "debian:bookworm"\n[shell]\nhome = "{home}"\nworkdir = "/src"\n'
    return Box(parse_spec(text, project / "devbox.toml"), Store(store), ())


def test_a_store_out_of_every_bind_is_not_masked(tmp_path: Path) -> None:
    box = box_in(tmp_path, tmp_path / "store")
    assert store_masks(box, [sandbox.Bind(str(tmp_path / "proj"), "/src")]) == []


def test_a_store_a_bind_brings_in_is_masked_where_it_shows(tmp_path: Path) -> None:
    box = box_in(tmp_path, tmp_path / "proj" / "sub" / "store")
    binds = [
        sandbox.Bind(str(tmp_path), "/home/me"),
        sandbox.Bind(str(tmp_path / "proj"), "/src"),
        sandbox.Bind(str(tmp_path / "proj" / "sub" / "store"), "/s"),
        sandbox.Bind(str(tmp_path / "elsewhere"), "/e"),
    ]
    assert store_masks(box, binds) == ["/home/me/proj/sub/store", "/src/sub/store", "/s"]
