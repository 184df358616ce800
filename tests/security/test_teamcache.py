"""A team-cache entry is untrusted: one whose record lies (another kind, another portable key,
other pins) is refused and the layer built; one whose tar writes through a symlink or names `..`
is refused by the unpacker, and nothing of it is stored.

The box is a `rootfs:` base (a tarball in the project: built in a second, and its layer goes
through the cache like every kind but an oci base). The entries are written here, as a hostile
team member could push them, into a real registry (Debian's docker-registry, TLS, htpasswd).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devbox.plan import lockfile
from devbox.plan.recipe import plan
from devbox.publish.layout import write_layout
from devbox.publish.packed import Packed
from devbox.publish.send import push_layout
from devbox.spec.load import load_spec
from devbox.store.paths import Store
from devbox.teamcache.lookup import host_arch, portable_keys
from tests.helpers import Devbox, need_root_tools
from tests.registry import Registry, start_registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    need_root_tools()
    r = start_registry(tmp_path_factory.mktemp("teamcache-registry"))
    r.trust()  # every user's skopeo (removed by stop)
    yield r
    r.stop()


def _tar(entries: list[tuple[str, str, bytes]]) -> bytes:
    """A tar of (name, kind "file"|"dir"|"link:TARGET", data)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            elif kind.startswith("link:"):
                ti.type, ti.linkname = tarfile.SYMTYPE, kind[5:]
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                t.addfile(ti, io.BytesIO(data))
    return out.getvalue()


GOOD = [("etc", "dir", b""), ("etc/os-release", "file", b"ID=test\nPRETTY_NAME=test\n"),
        ("hello", "file", b"from the tarball\n")]  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    p = tmp_path / "proj"
    p.mkdir()
    (p / "root.tar").write_bytes(_tar(GOOD))
    (p / "devbox.toml").write_text('[box]\nname = "tc"\nbase = "rootfs:root.tar"\n')
    return p


def _entry(st: Store, tmp: Path, ref: str, blob_tar: bytes, record: dict[str, Any]) -> None:
    """Push a one-layer image at `ref`: the tar gzipped, a config with the devbox labels."""
    blob = gzip.compress(blob_tar, mtime=0)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    (st.blobs / "sha256").mkdir(parents=True, exist_ok=True)
    (st.blobs / "sha256" / digest[7:]).write_bytes(blob)
    diff_id = "sha256:" + hashlib.sha256(blob_tar).hexdigest()
    packed = Packed("", diff_id, digest, len(blob))
    labels = {"dev.devbox.version": "1", "dev.devbox.box": "tc", "dev.devbox.spec": "sha256:0",
              "dev.devbox.lock": "sha256:0", "dev.devbox.arch": host_arch(),
              "dev.devbox.layers": json.dumps([record])}  # fmt: skip
    layout = tmp / f"layout-{hashlib.sha256(ref.encode()).hexdigest()[:8]}"
    shutil.rmtree(layout, ignore_errors=True)
    write_layout(st, layout, [packed], {"config": {"Labels": labels}}, tag="x")
    push_layout(layout, ref, tmp / "push.log")


def _locked(project: Path, tmp: Path) -> tuple[str, dict[str, Any]]:
    """Build once (no cache) to write devbox.lock; the portable key and pins of the base."""
    dbx = Devbox(tmp / "store-lock")
    r = dbx("build", cwd=project, env={"DEVBOX_CACHE": ""})
    assert r.returncode == 0, r.stderr
    spec = load_spec(project / "devbox.toml")
    layers = plan(spec)
    pins = lockfile.pins_chain(lockfile.read(lockfile.lock_path(spec)), layers)
    assert pins[0] is not None
    return portable_keys(spec, layers, pins)[0], pins[0]


def _login(reg: Registry, tmp: Path) -> Path:
    """A home with the registry's login, for devbox and for this process (pushing entries)."""
    home = tmp / "home"
    reg.login(home)
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(home))
    return home


def _layers(store: Path) -> list[str]:
    d = store / "layers"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


@pytest.mark.parametrize("lie", ["kind", "portable", "pins"])
def test_an_entry_whose_record_lies_is_refused_and_the_layer_built(
    reg: Registry, project: Path, tmp_path: Path, lie: str
) -> None:
    key, pins = _locked(project, tmp_path)
    repo = reg.ref(f"team/lies-{lie}")
    record: dict[str, Any] = {"kind": "rootfs", "title": "base", "portable": key, "pins": pins,
                              "packages": {}, "recipe": {}, "image_diff_id": None,
                              "lowers": None, "image": None}  # fmt: skip
    if lie == "kind":
        record["kind"] = "apt"
    elif lie == "portable":
        record["portable"] = "0" * 64
    else:
        record["pins"] = {**pins, "packages": {"evil": "1.0"}}
    home = _login(reg, tmp_path)
    evil = _tar([*GOOD, ("planted", "file", b"from the cache\n")])
    _entry(Store(tmp_path / "scratch"), tmp_path, f"{repo}:{key}", evil, record)
    store = tmp_path / "store-b"
    r = Devbox(store)("build", "--locked", cwd=project,
                      env={"DEVBOX_CACHE": repo, "HOME": str(home)})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "the team cache's entry is refused" in r.stderr, r.stderr
    assert "built in" in r.stderr and "from the team cache" not in r.stderr
    (layer,) = _layers(store)  # built from the project's tarball: nothing of the entry
    assert (store / "layers" / layer / "rootfs/hello").read_text() == "from the tarball\n"
    assert not (store / "layers" / layer / "rootfs/planted").exists()


@pytest.mark.parametrize("hostile", ["symlink", "dotdot"])
def test_an_entry_that_writes_outside_its_layer_is_refused_and_nothing_stored(
    reg: Registry, project: Path, tmp_path: Path, hostile: str
) -> None:
    key, pins = _locked(project, tmp_path)
    repo = reg.ref(f"team/hostile-{hostile}")
    record = {"kind": "rootfs", "title": "base", "portable": key, "pins": pins, "packages": {},
              "recipe": {}, "image_diff_id": None, "lowers": None, "image": None}  # fmt: skip
    target = tmp_path / "outside"
    target.mkdir()
    bad = (
        [("evil", f"link:{target}", b""), ("evil/pwned", "file", b"x")]
        if hostile == "symlink"
        else [("etc", "dir", b""), ("etc/../../pwned", "file", b"x")]
    )
    home = _login(reg, tmp_path)
    _entry(Store(tmp_path / "scratch"), tmp_path, f"{repo}:{key}", _tar([*GOOD, *bad]), record)
    store = tmp_path / "store-b"
    r = Devbox(store)("build", "--locked", cwd=project,
                      env={"DEVBOX_CACHE": repo, "HOME": str(home)})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "the team cache's entry is refused" in r.stderr, r.stderr
    assert "built in" in r.stderr
    assert not (target / "pwned").exists() and not (tmp_path / "pwned").exists()
    assert not any(n.startswith(".tmp-") for n in _layers(store))  # no staged layer left
    assert len(_layers(store)) == 1  # only the layer built from the project's tarball


def test_the_lock_is_hashed_without_following_a_planted_link(tmp_path: Path) -> None:
    """devbox.lock is in the working tree: a link the box planted there is not read through
    (pull compares the image's lock with the project's by this hash)."""
    from devbox.teamcache.records import file_sha

    secret = tmp_path / "host-secret"
    secret.write_text("not the box's\n")
    (tmp_path / "devbox.lock").symlink_to(secret)
    assert file_sha(tmp_path / "devbox.lock") == ""
    (tmp_path / "devbox.lock").unlink()
    (tmp_path / "devbox.lock").write_text("x = 1\n")
    assert file_sha(tmp_path / "devbox.lock").startswith("sha256:")
