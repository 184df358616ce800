"""`devbox status` over a store laid out by hand: is the box up to date with its spec and lock?"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devbox.plan import lockfile
from devbox.plan.recipe import LayerRecipe, layer_key, plan
from devbox.sandbox.host import current_tier
from devbox.spec.load import load_spec
from devbox.spec.model import Spec
from devbox.store.layers import LayerMeta, write_alias
from devbox.store.paths import Store
from devbox.store.projects import register_project

BASE_PKGS = {"base-files": "12.4", "dash": "0.5.12-2"}


def _spec(project: Path, apt: list[str]) -> Spec:
    project.mkdir(parents=True, exist_ok=True)
    packages = ", ".join(json.dumps(p) for p in apt)
    path = project / "devbox.toml"
    path.write_text(
        f'[box]\nname = "st"\nbase = "debian:bookworm"\n[packages]\napt = [{packages}]\n'
    )
    return load_spec(path)


def _layers(spec: Spec) -> list[LayerRecipe]:
    return plan(spec, idmap=current_tier().key)


def _add_all(st: Store, layers: list[LayerRecipe]) -> list[LayerMeta]:
    """Lay the layers out as an unlocked build stores them (plan.layer_key, no pins)."""
    metas: list[LayerMeta] = []
    for layer in layers:
        metas.append(_add(st, layer, metas[-1] if metas else None))
    return metas


def _add(st: Store, layer: LayerRecipe, below: LayerMeta | None) -> LayerMeta:
    """One layer as an unlocked build leaves it: stored under its pins, and an alias from
    the unpinned key (so it is found with and without devbox.lock)."""
    packages = dict(BASE_PKGS)
    for name in layer.recipe.get("packages", []):
        packages[name] = "1.0"
    previous = below.packages if below else {}
    pins = {"packages": {k: v for k, v in packages.items() if previous.get(k) != v}}
    parent = below.digest if below else None
    meta = LayerMeta(
        digest=layer_key(layer.digest, parent, pins),
        pins=pins,
        kind=layer.kind,
        parent=parent,
        recipe=layer.recipe,
        title=layer.title,
        size=2**20,
        created=0.0,
        tier=current_tier().level,
        packages=packages,
        arch="amd64",
    )
    d = st.layer_dir(meta.digest)
    (d / "rootfs").mkdir(parents=True)
    (d / "meta.json").write_text(json.dumps(meta.to_json()))
    write_alias(st, layer_key(layer.digest, parent, None), meta.digest)
    return meta


def _status(spec: Spec, st: Store) -> dict[str, str]:
    from devbox.commands.status import status_lines

    out = {}
    for line in status_lines(spec, st):
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


@pytest.fixture
def st(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def test_nothing_built(st: Store, tmp_path: Path) -> None:
    s = _status(_spec(tmp_path / "p", ["jq"]), st)
    assert s["state"] == "needs `devbox build` (2 of 2 layers to build)"
    assert s["lock"] == "none (devbox build writes devbox.lock)"
    assert s["trust"].startswith("not allowed")


def test_built_registered_and_locked_is_up_to_date(st: Store, tmp_path: Path) -> None:
    spec = _spec(tmp_path / "p", ["jq"])
    metas = _add_all(st, _layers(spec))
    s = _status(spec, st)
    assert s["state"].startswith("every layer is in the store, but this project has not used")
    register_project(st, spec.project, spec.name, [m.digest for m in metas])
    lockfile.write(spec, metas)
    s = _status(spec, st)
    assert s["state"] == "up to date with devbox.toml"
    assert s["lock"] == "matches the box"
    lock = lockfile.lock_path(spec)
    text = lock.read_text()
    lock.write_text(text.replace("[apt]", "[apt]\n# a note"))  # same pins, other text
    assert _status(spec, st)["lock"] == (
        "matches the box (laid out differently: `devbox build` rewrites it)"
    )
    lock.write_text(text.replace('"jq" = "1.0"', '"jq" = "0.9"'))  # pins a layer not built
    s = _status(spec, st)
    assert s["state"].endswith("needs `devbox build` (1 of 2 layers to build)")
    assert s["lock"] == (
        'pins what is not built, unlike the box as last built: [apt.packages] jq is "0.9" in '
        'devbox.lock, "1.0" in the box (`devbox build --locked` builds it or says why not; '
        "`devbox build` rewrites what the archive no longer has)"
    )


def test_a_spec_edit_shows_until_the_next_build(st: Store, tmp_path: Path) -> None:
    spec = _spec(tmp_path / "p", ["jq"])
    metas = _add_all(st, _layers(spec))
    register_project(st, spec.project, spec.name, [m.digest for m in metas])
    lockfile.write(spec, metas)

    edited = _spec(tmp_path / "p", ["jq", "tree"])  # a new apt layer, not built
    s = _status(edited, st)
    assert s["state"] == (
        "devbox.toml changed since the last build: needs `devbox build` (1 of 2 layers to build)"
    )
    assert s["lock"] == (
        'devbox.lock [apt] does not match the spec: requested = ["jq"] in the lock, ["jq", '
        '"tree"] in the spec (`devbox build --locked` refuses it; `devbox build` rewrites it)'
    )

    other = _spec(tmp_path / "p", [])  # only the base: in the store, but not this stack
    s = _status(other, st)
    assert s["state"].startswith("devbox.toml changed since the last build; every layer is in")
    assert s["lock"] == (
        "differs from the box: [apt] is in devbox.lock but not in the box "
        "(`devbox build --locked` refuses it; `devbox build` rewrites it)"
    )


def test_a_lock_that_is_not_text_differs(st: Store, tmp_path: Path) -> None:
    spec = _spec(tmp_path / "p", [])
    metas = _add_all(st, _layers(spec))
    register_project(st, spec.project, spec.name, [m.digest for m in metas])
    lockfile.lock_path(spec).write_bytes(b"\xff\xfe garbage")
    assert _status(spec, st)["lock"] == (
        "damaged: not valid TOML (`devbox build` rewrites it; `--locked` refuses it)"
    )


def test_trust_state_follows_allow_and_edits(st: Store, tmp_path: Path) -> None:
    from devbox.activation import trust

    spec = _spec(tmp_path / "p", ["jq"])
    trust.allow(spec, spec.path.read_bytes())
    assert _status(spec, st)["trust"].startswith("allowed")
    with open(spec.path, "a") as f:
        f.write("# edited\n")
    assert _status(spec, st)["trust"].startswith("changed since allowed")
