"""`devbox pull REF`: a devbox image's layers into a fresh store, after which the box needs no
build; and the bad inputs (not a devbox image, a registry that is down, no credentials): exit 1,
one line, nothing stored.

The box is a `rootfs:` base (built in a second). The image is made here as `devbox push` makes
one (the publish API: each store layer packed, the labels of a devbox image, pushed with skopeo).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from devbox.plan import lockfile
from devbox.plan.recipe import plan
from devbox.publish.layout import write_layout
from devbox.publish.packed import pack_layer
from devbox.publish.send import push_layout
from devbox.sandbox.host import current_tier
from devbox.spec.load import load_spec
from devbox.store import layers as store
from devbox.store.paths import Store
from devbox.teamcache import records
from devbox.teamcache.lookup import host_arch, portable_keys
from tests.helpers import Devbox, need_root_tools
from tests.registry import Registry

pytestmark = pytest.mark.integration


def _project(tmp: Path) -> Path:
    import io
    import tarfile

    p = tmp / "proj"
    p.mkdir()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        ti = tarfile.TarInfo("hello")
        ti.size = 6
        t.addfile(ti, io.BytesIO(b"hello\n"))
    (p / "root.tar").write_bytes(out.getvalue())
    (p / "devbox.toml").write_text('[box]\nname = "pl"\nbase = "rootfs:root.tar"\n')
    return p


def _push_box(project: Path, st: Store, ref: str, labels_too: bool = True) -> None:
    spec = load_spec(project / "devbox.toml")
    tier = current_tier()
    layers = plan(spec, idmap=tier.key)
    pins = lockfile.pins_chain(lockfile.read(lockfile.lock_path(spec)), layers)
    keys = portable_keys(spec, layers, pins)
    metas = [store.read_meta(st, d) for d in _stack(st, spec.project)]
    packed = [pack_layer(st, tier, m.digest, st.logs / "pack.log", lambda _: None) for m in metas]
    recs = [records.record_of(m, k) for m, k in zip(metas, keys)]
    labels = records.labels_for(spec, host_arch(), recs) if labels_too else {"x": "y"}
    layout = st.root / "layout"
    shutil.rmtree(layout, ignore_errors=True)
    write_layout(st, layout, packed, {"config": {"Labels": labels}}, tag="1")
    push_layout(layout, ref, st.logs / "push.log")


def _stack(st: Store, project: Path) -> list[str]:
    from devbox.store import projects

    data = projects.read_project(st, project)
    assert data is not None
    return list(data["stack"])


@pytest.fixture
def built(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    need_root_tools()
    home = tmp_path / "home"
    registry.trust(home)
    registry.login(home)
    monkeypatch.setenv("HOME", str(home))
    project = _project(tmp_path)
    r = Devbox(tmp_path / "store-a")("build", cwd=project)
    assert r.returncode == 0, r.stderr
    return project


def _stored(store_dir: Path) -> list[str]:
    d = store_dir / "layers"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def test_push_delete_the_store_pull_then_the_box_builds_nothing(
    registry: Registry, built: Path, tmp_path: Path
) -> None:
    ref = registry.ref("team/pl:1")
    dbx = Devbox(tmp_path / "store-a")
    env = {"HOME": str(tmp_path / "home")}
    r = dbx("push", ref, cwd=built, env=env)  # what `devbox push` makes, labels and all
    assert r.returncode == 0, r.stderr
    shutil.rmtree(tmp_path / "store-a")
    r = dbx("pull", ref, cwd=built, env=env)
    assert r.returncode == 0, r.stderr
    assert "imported" in r.stderr and "ready from" in r.stderr
    logs = tmp_path / "store-a" / "logs"
    before = set(logs.iterdir()) if logs.is_dir() else set()
    r = dbx("build", "--locked", cwd=built, env=env)
    assert r.returncode == 0, r.stderr
    assert "built in" not in r.stderr and "[1/1]" in r.stderr and "cached" in r.stderr
    after = set(logs.iterdir()) if logs.is_dir() else set()
    assert after == before, "the build after the pull wrote a build log"


def test_pull_of_an_image_made_with_the_publish_api(
    registry: Registry, built: Path, tmp_path: Path
) -> None:
    ref = registry.ref("team/pl:2")
    _push_box(built, Store(tmp_path / "store-a"), ref)
    dbx = Devbox(tmp_path / "store-b")
    env = {"HOME": str(tmp_path / "home")}
    r = dbx("pull", ref, cwd=built, env=env)
    assert r.returncode == 0, r.stderr
    r = dbx("build", "--locked", cwd=built, env=env)
    assert r.returncode == 0, r.stderr
    assert "built in" not in r.stderr and "cached" in r.stderr


def test_a_pull_of_another_image_stores_nothing(
    registry: Registry, built: Path, tmp_path: Path
) -> None:
    ref = registry.ref("team/notdevbox:1")
    _push_box(built, Store(tmp_path / "store-a"), ref, labels_too=False)
    store_b = tmp_path / "store-b"
    r = Devbox(store_b)("pull", ref, cwd=built, env={"HOME": str(tmp_path / "home")})
    assert r.returncode == 1
    assert f"{ref} is not a devbox image" in r.stderr.splitlines()[0]
    assert _stored(store_b) == []
    blobs = store_b / "oci/blobs/sha256"
    assert not blobs.is_dir() or not any(blobs.iterdir())
    assert not any(p.name.startswith(".tmp-") for p in (store_b / "oci").glob("*"))


@pytest.mark.parametrize("case", ["down", "no-credentials"])
def test_a_pull_that_cannot_reach_the_image_stores_nothing(
    registry: Registry, built: Path, tmp_path: Path, case: str
) -> None:
    if case == "down":
        ref, home = "127.0.0.1:1/team/pl:1", tmp_path / "home"
    else:
        ref, home = registry.ref("team/pl:1"), tmp_path / "nobody"
        registry.trust(home)
    store_b = tmp_path / "store-b"
    r = Devbox(store_b)("pull", ref, cwd=built, env={"HOME": str(home)})
    assert r.returncode == 1
    first = r.stderr.splitlines()[0]
    assert ("cannot reach" if case == "down" else "refused access") in first, r.stderr
    assert "Traceback" not in r.stderr
    assert _stored(store_b) == []
    assert json.dumps(_stored(store_b)) == "[]"
