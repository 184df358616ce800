"""Image bases end to end, as root: images built here with mmdebstrap and podman, pushed to a real
registry on 127.0.0.1 (Debian's docker-registry, TLS from a test CA, htpasswd), pulled by devbox
with skopeo and entered with bwrap. The rootless tiers: tests/integration/test_images_rootless.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import Devbox
from tests.images import Images, retag
from tests.registry import Registry

pytestmark = pytest.mark.integration


@pytest.fixture
def home(registry: Registry, tmp_path: Path) -> Path:
    """A HOME whose ~/.docker/config.json and certs.d let skopeo into the test registry."""
    h = tmp_path / "home"
    h.mkdir()
    registry.trust(h)
    registry.login(h)
    return h


def project(tmp_path: Path, name: str, base: str, extra: str = "") -> Path:
    p = tmp_path / name
    p.mkdir()
    (p / "devbox.toml").write_text(f'[box]\nname = "{name}"\nbase = "oci:{base}"\n{extra}')
    return p


def fresh(tmp_path: Path, home: Path) -> tuple[Devbox, dict[str, str]]:
    """devbox with a store of its own (for counting what a pull fetches) and the home."""
    return Devbox(tmp_path / "store"), {"HOME": str(home)}


def store_tree(store: Path) -> list[str]:
    """What the store holds of images: layers and cached blobs (not logs, locks or the empty dirs
    every command makes)."""
    out: list[str] = []
    for sub in ("layers", "oci/blobs/sha256", "oci/images"):
        d = store / sub
        if d.is_dir():
            out += [f"{sub}/{e.name}" for e in d.iterdir()]
    return sorted(out)


def lock_base(p: Path) -> dict[str, object]:
    import tomllib

    doc = tomllib.loads((p / "devbox.lock").read_text())
    base = doc["base"]
    assert isinstance(base, dict)
    return base


def test_an_image_is_a_box_base_with_its_lock_and_layers_shared(
    registry: Registry, images: Images, home: Path, tmp_path: Path
) -> None:
    devbox, env = fresh(tmp_path, home)
    p = project(tmp_path, "two", images.two.ref)
    r = devbox("run", "--", "sh", "-c", "cat /etc/os-release; ls /opt/replaced; ls /opt", cwd=p,
               env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "VERSION_CODENAME=bookworm" in r.stdout
    # the upper layer's whiteout and opaque dir: /opt/gone is gone, /opt/replaced holds only `new`
    listing = r.stdout.split("\n")
    assert "new" in listing and "old1" not in listing and "old2" not in listing
    assert "gone" not in listing
    base = lock_base(p)
    assert base["source"] == f"oci:{images.two.ref}"
    assert base["manifest"] == images.two.digest and base["platform"]
    assert (p / "devbox.lock").read_text().count("[base.packages]") == 1

    # a second image over the same base layer: only its own layer is downloaded
    sib_base_gets = registry.requests("GET", f"/blobs/{images.sib.layers[0]}")
    own_gets = registry.requests("GET", f"/blobs/{images.sib.layers[1]}")
    q = project(tmp_path, "sib", images.sib.ref)
    r = devbox("run", "--", "cat", "/opt/sib/hello", cwd=q, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "sib", r.stderr
    assert registry.requests("GET", f"/blobs/{images.sib.layers[0]}") == sib_base_gets
    assert registry.requests("GET", f"/blobs/{images.sib.layers[1]}") == own_gets + 1
    metas = [json.loads(m.read_text()) for m in (devbox.store / "layers").glob("*/meta.json")]
    shared = [m for m in metas if m["kind"] == "image-layer" and
              m["recipe"]["blob"] == images.sib.layers[0]]  # fmt: skip
    assert len(shared) == 1  # once on disk, below both boxes
    bases = [m for m in metas if m["kind"] == "oci"]
    assert len(bases) == 2 and all(shared[0]["digest"] in m["lowers"] for m in bases)

    # ls knows both boxes share the layer; gc, once `two` is gone, frees only what was its own
    r = devbox("ls", cwd=q, env=env)
    assert r.returncode == 0 and "1 image layer shared by several boxes" in r.stdout, r.stdout
    shutil.rmtree(p)
    r = devbox("gc", cwd=q, env=env)
    assert r.returncode == 0, r.stderr
    assert re.search(r"\b1 image layer\b", r.stdout) and "2 cached blobs" in r.stdout, r.stdout
    blobs = {e.name for e in (devbox.store / "oci/blobs/sha256").iterdir()}
    assert images.two.layers[1].split(":")[1] not in blobs
    assert images.sib.layers[0].split(":")[1] in blobs
    r = devbox("run", "--", "cat", "/opt/sib/hello", cwd=q, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "sib", r.stderr


def test_apt_on_a_debian_image_and_refused_on_one_without_apt(
    registry: Registry, images: Images, home: Path, devbox: Devbox, tmp_path: Path
) -> None:
    env = {"HOME": str(home)}
    p = project(tmp_path, "jq", images.base.ref, '[packages]\napt = ["jq"]\n')
    r = devbox("run", "--", "jq", "-n", "1+1", cwd=p, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "2", r.stderr
    assert "jq" in (p / "devbox.lock").read_text()

    own, env = fresh(tmp_path, home)
    q = project(tmp_path, "noapt", images.noapt.ref, '[packages]\napt = ["jq"]\n')
    r = own("build", cwd=q, env=env)
    assert r.returncode == 1, r.stderr
    assert "[packages].apt needs apt" in r.stderr and "Debian GNU/Linux 12" in r.stderr
    assert "Traceback" not in r.stderr
    # [setup] still works on it
    (q / "devbox.toml").write_text(
        f'[box]\nname = "noapt"\nbase = "oci:{images.noapt.ref}"\n'
        '[setup]\nrun = ["echo made > /opt/made"]\n'
    )
    r = own("run", "--", "cat", "/opt/made", cwd=q, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "made", r.stderr


def test_a_moved_tag_changes_nothing_locked_until_lock_update(
    registry: Registry, images: Images, home: Path, devbox: Devbox, tmp_path: Path
) -> None:
    env = {"HOME": str(home)}
    first = retag(registry, "test/base:1", "test/moving:1")
    p = project(tmp_path, "moving", first.ref)
    devbox("build", cwd=p, env=env, check=True)
    assert lock_base(p)["manifest"] == first.digest
    moved = retag(registry, "test/two:1", "test/moving:1")
    assert moved.digest != first.digest
    r = devbox("build", "--locked", cwd=p, env=env)
    assert r.returncode == 0, r.stderr
    r = devbox("run", "--", "cat", "/opt/gone", cwd=p, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "gone", r.stderr  # still the old image
    assert lock_base(p)["manifest"] == first.digest
    r = devbox("lock", "--update", cwd=p, env=env)
    assert r.returncode == 0, r.stderr
    assert lock_base(p)["manifest"] == moved.digest
    r = devbox("run", "--", "test", "-e", "/opt/gone", cwd=p, env=env)
    assert r.returncode == 1, r.stderr


def _fails(devbox: Devbox, p: Path, env: dict[str, str], *said: str) -> str:
    r = devbox("build", cwd=p, env=env)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    for s in said:
        assert s in r.stderr, r.stderr
    return r.stderr


def test_bad_images_and_registries_are_clear_errors_that_leave_nothing(
    registry: Registry, images: Images, home: Path, tmp_path: Path
) -> None:
    devbox, env = fresh(tmp_path, home)
    cases = [
        ("unknown", f"{registry.host}/test/nothing-here:1", env, ["no such image"]),
        ("nocreds", images.base.ref, {"HOME": str(tmp_path / "nobody")}, ["refused access"]),
        ("down", "127.0.0.1:1/test/base:1", env, ["cannot reach the registry"]),
        ("armonly", images.armonly.ref, env, ["no linux/", "linux/arm64"]),
        ("dotdot", images.dotdot.ref, env, ["refused", "escape"]),
        ("symlink", images.symlink_out.ref, env, ["refused", "symlink"]),
    ]
    (tmp_path / "nobody").mkdir()
    registry.trust(tmp_path / "nobody")
    for name, ref, e, said in cases:
        _fails(devbox, project(tmp_path, name, ref), e, *said)
        assert store_tree(devbox.store) == [], name
    assert not images.symlink_target.joinpath("pwned").exists()

    wrong = tmp_path / "wrong-home"
    wrong.mkdir()
    registry.trust(wrong)
    cfg = wrong / ".docker" / "config.json"
    cfg.parent.mkdir()
    import base64

    auth = base64.b64encode(f"{registry.user}:wrong".encode()).decode()
    cfg.write_text(json.dumps({"auths": {registry.host: {"auth": auth}}}))
    _fails(devbox, project(tmp_path, "wrong", images.base.ref), {"HOME": str(wrong)},
           "refused access")  # fmt: skip
    assert store_tree(devbox.store) == []


def test_a_corrupt_blob_in_the_registry_is_refused(
    registry: Registry, images: Images, home: Path, tmp_path: Path
) -> None:
    # an image of its own (a copy of sib's upper layer would share the blob with other tests)
    from tests.images import Podman

    pod = Podman(registry, tmp_path / "podman")
    pod("pull", "--quiet", *pod.auth, f"docker://{images.base.ref}")
    pod.build("test/corrupt:1", f"FROM {images.base.ref}\nRUN echo c > /opt/c\n",
              tmp_path / "ctx")  # fmt: skip
    pod.push("test/corrupt:1")
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--creds", registry.creds, "--cert-dir",
         str(registry.cert_dir), f"docker://{registry.ref('test/corrupt:1')}"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    top = json.loads(raw)["layers"][-1]["digest"]
    blob = registry.blob_path(top)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    devbox, env = fresh(tmp_path, home)
    _fails(devbox, project(tmp_path, "corrupt", registry.ref("test/corrupt:1")), env,
           "does not match")  # fmt: skip
    assert store_tree(devbox.store) == []


def test_a_full_disk_mid_pull_leaves_nothing(
    registry: Registry, images: Images, home: Path, tmp_path: Path
) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(small)], check=True)
    try:
        devbox = Devbox(small / "store")
        _fails(devbox, project(tmp_path, "full", images.base.ref), {"HOME": str(home)},
               "no space left")  # fmt: skip
        assert store_tree(devbox.store) == []
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_the_image_env_and_workdir_are_the_box_defaults(
    registry: Registry, images: Images, home: Path, devbox: Devbox, tmp_path: Path
) -> None:
    from tests.images import Podman

    pod = Podman(registry, tmp_path / "podman")
    pod("pull", "--quiet", *pod.auth, f"docker://{images.base.ref}")
    pod.build("test/envwd:1", f"FROM {images.base.ref}\nENV TEAM_SDK=/opt/sdk "
              "PATH=/opt/sdk/bin:/usr/local/bin:/usr/bin:/bin\nWORKDIR /workspace\n",
              tmp_path / "ctx")  # fmt: skip
    pod.push("test/envwd:1")
    p = project(tmp_path, "envwd", registry.ref("test/envwd:1"), '[env]\nMINE = "${TEAM_SDK}/x"\n')
    (p / "hello.txt").write_text("hi\n")
    r = devbox("run", "--", "sh", "-c", 'echo "$TEAM_SDK $MINE $PATH"; pwd; cat hello.txt',
               cwd=p, env={"HOME": str(home)})  # fmt: skip
    assert r.returncode == 0, r.stderr
    first, cwd, hello = r.stdout.splitlines()[:3]
    assert first.startswith("/opt/sdk /opt/sdk/x /opt/sdk/bin:")
    assert cwd == "/workspace" and hello == "hi"


def test_a_rootfs_tarball_is_a_base(
    images: Images, devbox: Devbox, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.images import base_tarball

    tar = base_tarball(tmp_path_factory.getbasetemp() / "image-cache")  # made for the images
    p = tmp_path / "tarball"
    (p / "images").mkdir(parents=True)
    subprocess.run(["zstd", "-q", "-T0", str(tar), "-o", str(p / "images/root.tar.zst")],
                   check=True)  # fmt: skip
    (p / "devbox.toml").write_text('[box]\nname = "tarball"\nbase = "rootfs:images/root.tar.zst"\n')
    r = devbox("run", "--", "sh", "-c", "cat /etc/os-release; cat /opt/gone", cwd=p)
    assert r.returncode == 0, r.stderr
    assert "VERSION_CODENAME=bookworm" in r.stdout and "gone" in r.stdout
    base = lock_base(p)
    assert base["source"] == "rootfs:images/root.tar.zst" and len(str(base["sha256"])) == 64
    # a changed tarball is a changed base
    os.symlink("/etc/passwd", p / "images/evil.tar")
    (p / "devbox.toml").write_text('[box]\nname = "tarball"\nbase = "rootfs:images/evil.tar"\n')
    r = devbox("build", cwd=p)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "symlink" in r.stderr or "link" in r.stderr


def test_an_index_gives_this_machines_platform_and_the_lock_records_both(
    images: Images, home: Path, devbox: Devbox, tmp_path: Path
) -> None:
    p = project(tmp_path, "multi", images.multi.ref)
    r = devbox("run", "--", "cat", "/opt/gone", cwd=p, env={"HOME": str(home)})
    assert r.returncode == 0 and r.stdout.strip() == "gone", r.stderr  # the amd64 entry: base
    base = lock_base(p)
    host = next(k for k in images.multi.platforms if not k.endswith("arm64"))
    assert base["index"] == images.multi.digest and base["platform"] == host
    assert base["manifest"] == images.multi.platforms[host] == images.base.digest


def test_a_mirror_in_registries_conf_is_used(
    registry: Registry, images: Images, home: Path, devbox: Devbox, tmp_path: Path
) -> None:
    """A registry that does not exist, mirrored (as registries.conf says) by the test registry:
    devbox pulls through skopeo's own settings, as podman would."""
    if os.geteuid() != 0:
        pytest.skip("root reads registries.conf from /etc only")
    conf = Path("/etc/containers/registries.conf.d") / f"devbox-test-{os.getpid()}.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        '[[registry]]\nlocation = "registry.invalid"\n'
        f'[[registry.mirror]]\nlocation = "{registry.host}"\n'
    )
    try:
        before = registry.requests("GET", "/v2/test/base/manifests/")
        p = project(tmp_path, "mirrored", "registry.invalid/test/base:1")
        r = devbox("run", "--", "cat", "/opt/gone", cwd=p, env={"HOME": str(home)})
        assert r.returncode == 0 and r.stdout.strip() == "gone", r.stderr
        assert registry.requests("GET", "/v2/test/base/manifests/") > before
        assert lock_base(p)["manifest"] == images.base.digest
    finally:
        conf.unlink()
