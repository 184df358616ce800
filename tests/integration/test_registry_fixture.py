"""The test registry and images, end to end with skopeo alone: logins are required and checked,
the registry counts what it serves, the images are what the image tests take them for, and the
CA and credentials reach skopeo through the files `trust()` and `login()` write, as root and as
a created user."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.images import Images, upper_layer_listing
from tests.integration.rootless import TEST_USER_PREFIX, make_user, runtime, users_scratch
from tests.registry import Registry, copy, run, skopeo

pytestmark = pytest.mark.integration

USER = f"{TEST_USER_PREFIX}reg-{os.getpid()}"


def _skopeo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, env=env)


def test_inspect_needs_the_login_and_blob_gets_are_counted(
    registry: Registry, images: Images, tmp_path: Path
) -> None:
    raw = skopeo(registry, "inspect", "--raw", f"docker://{images.base.ref}")
    assert json.loads(raw)["layers"][0]["digest"] == images.base.layers[0]
    ca = ["--cert-dir", str(registry.cert_dir)]
    no_creds = _skopeo("inspect", *ca, f"docker://{images.base.ref}")
    assert no_creds.returncode != 0 and "authentication required" in no_creds.stderr
    wrong = _skopeo(
        "inspect", *ca, "--creds", f"{registry.user}:nope", f"docker://{images.base.ref}"
    )
    assert wrong.returncode != 0 and "authentication required" in wrong.stderr
    no_ca = _skopeo("inspect", "--creds", registry.creds, f"docker://{images.base.ref}")
    assert no_ca.returncode != 0 and "certificate signed by unknown authority" in no_ca.stderr

    before = registry.requests("GET", "/v2/test/sib/blobs/")
    copy(registry, f"docker://{images.sib.ref}", f"oci:{tmp_path / 'sib'}:1")
    # the config and both layers, each fetched once
    assert registry.requests("GET", "/v2/test/sib/blobs/") - before == 3
    assert registry.blob_path(images.sib.layers[1]).is_file()


def test_the_images_are_what_the_tests_take_them_for(registry: Registry, images: Images) -> None:
    names = [line.split()[-1] for line in upper_layer_listing(registry, images.two)]
    assert {"opt/.wh.gone", "opt/replaced/.wh..wh..opq"} <= set(names)
    with tarfile.open(registry.blob_path(images.dotdot.layers[0])) as tar:
        assert "../../escape" in tar.getnames()
    with tarfile.open(registry.blob_path(images.symlink_out.layers[0])) as tar:
        evil = tar.getmember("evil")
        assert evil.issym() and evil.linkname == str(images.symlink_target)
        assert "evil/pwned" in tar.getnames()
    assert list(images.armonly.platforms) == ["linux/arm64"]
    config = json.loads(skopeo(registry, "inspect", "--config", f"docker://{images.noapt.ref}"))
    assert config["rootfs"]["diff_ids"]


def test_trust_and_login_reach_root_skopeo(registry: Registry, tmp_path: Path) -> None:
    """Root with HOME elsewhere (as the tests run): the home's certs.d and docker config."""
    _push_tiny(registry, tmp_path, "test/tiny-root:1")
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home)}
    env.pop("REGISTRY_AUTH_FILE", None)
    ref = f"docker://{registry.ref('test/tiny-root:1')}"
    assert "unknown authority" in _skopeo("inspect", ref, env=env).stderr
    registry.trust(home)
    assert "authentication required" in _skopeo("inspect", ref, env=env).stderr
    registry.login(home)
    assert _skopeo("inspect", ref, env=env).returncode == 0
    shutil.rmtree(home / ".config")
    system = registry.trust(None)  # the system certs.d serves root as well
    try:
        assert _skopeo("inspect", ref, env=env).returncode == 0
    finally:
        shutil.rmtree(system.parent)
        registry.trusted.remove(system.parent)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    yield from users_scratch([USER], "creating a test user needs root")


def test_a_user_reaches_the_registry_through_their_home(registry: Registry, scratch: Path) -> None:
    user = make_user(USER, scratch, runtime(scratch), subids=False)
    _push_tiny(registry, scratch, "test/tiny-user:1")
    ref = f"docker://{registry.ref('test/tiny-user:1')}"

    # a login session's runtime dir: without XDG_RUNTIME_DIR skopeo reads
    # /run/containers/UID/auth.json, and once root podman has made /run/containers (0700) that
    # is "permission denied", which skopeo treats as fatal
    run_dir = user.home / ".run"
    run_dir.mkdir(mode=0o700)
    os.chown(run_dir, user.uid, user.gid)

    def inspect() -> subprocess.CompletedProcess[str]:
        return user.sh(f"XDG_RUNTIME_DIR={run_dir} skopeo inspect {ref}", cwd=user.home)

    assert "unknown authority" in inspect().stderr
    owner = (user.uid, user.gid)
    ca = registry.trust(user.home, owner)
    assert ca.stat().st_uid == user.uid
    assert "authentication required" in inspect().stderr
    auth = registry.login(user.home, owner)
    assert auth.stat().st_uid == user.uid and auth.parent.stat().st_uid == user.uid
    r = inspect()
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Name"] == registry.ref("test/tiny-user")


def _push_tiny(registry: Registry, tmp: Path, name: str) -> None:
    (tmp / "tiny").mkdir(exist_ok=True)
    (tmp / "tiny" / "hello").write_text("hello\n")
    run("tar", "-C", str(tmp / "tiny"), "-cf", str(tmp / "tiny.tar"), ".")
    copy(registry, f"tarball:{tmp / 'tiny.tar'}", f"docker://{registry.ref(name)}")
