"""An exported box run by rootless podman: a created user with a subuid range (tier 2) builds the
box of test_images_export.py, exports it as an oci-archive, and runs it with podman as that user
(storage in the user's home, a runtime dir the user owns): the box's programs run, and its env is
the env of `devbox run`, less what differs by design.

podman's settings are the user's own ~/.config/containers: runc, cgroupfs and explicit ulimits (as
tests/images.py and bench/anchors.py set them on this kind of machine), and the kernel's overlay
as the storage driver (without it rootless podman falls back to vfs here, since /dev/fuse is
root's only: vfs copies the whole image for every container).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.images import need_tools
from tests.integration.rootless import TEST_USER_PREFIX, User, make_user, runtime, users_scratch
from tests.integration.test_images_export import BY_DESIGN, SPEC, env_of

pytestmark = pytest.mark.integration

NAME = f"{TEST_USER_PREFIX}expsub-{os.getpid()}"
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1000:1000", "nproc=1000:1000"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""
STORAGE_CONF = '[storage]\ndriver = "overlay"\n'


class RootlessPodman:
    """Rootless podman as `user`, with the user's own settings, storage and runtime dir."""

    def __init__(self, user: User) -> None:
        self.user = user
        config = user.home / ".config" / "containers"
        config.mkdir(parents=True, exist_ok=True)
        (config / "containers.conf").write_text(CONTAINERS_CONF)
        (config / "storage.conf").write_text(STORAGE_CONF)
        self.run_dir = user.home / ".run"
        self.run_dir.mkdir(mode=0o700, exist_ok=True)
        user.own(user.home / ".config")
        user.own(self.run_dir)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        u = self.user
        drop = ["setpriv", f"--reuid={u.uid}", f"--regid={u.gid}", "--init-groups", "--"]
        env = u.env(
            {"XDG_RUNTIME_DIR": str(self.run_dir), "XDG_CONFIG_HOME": str(u.home / ".config")}
        )
        r = subprocess.run(
            [*drop, "podman", *args], cwd=u.home, env=env, capture_output=True, text=True,
            timeout=600, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert not check or r.returncode == 0, f"podman {' '.join(args)}: {r.stderr}"
        return r


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    yield from users_scratch([NAME], "creating test users needs root (CI runs as root)")


@pytest.fixture(scope="module")
def user(base: Path) -> Iterator[User]:
    need_tools()
    u = make_user(NAME, base, runtime(base), subids=True)
    yield u
    # podman's storage holds files of the user's subordinate ids: podman removes it, as the user
    RootlessPodman(u)("system", "reset", "--force", check=False)


def test_an_exported_box_runs_in_rootless_podman(user: User, base: Path) -> None:
    project = base / f"work-{user.name}" / "exported"
    project.mkdir(parents=True)
    (project / "devbox.toml").write_text(SPEC)
    user.own(project.parent)
    r = user.devbox("build", cwd=project)
    assert r.returncode == 0, r.stderr
    tar = project.parent / "exported.tar"
    r = user.devbox("-q", "export", "--format", "oci-archive", "--tag", "exported", str(tar),
                    cwd=project)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert tar.stat().st_uid == user.uid

    podman = RootlessPodman(user)
    loaded = podman("load", "-q", "-i", str(tar)).stdout
    assert loaded.startswith("Loaded image"), loaded
    image = loaded.strip().rsplit(" ", 1)[-1]
    script = "xmllint --version 2>&1 | head -n1; python3 --version; echo ---; env"
    ran = podman("run", "--rm", "--network", "host", image, "sh", "-c", script).stdout
    head, _, env_text = ran.partition("---\n")
    assert "libxml" in head and "Python 3.11" in head, ran
    r = user.devbox("run", "--", "env", cwd=project)
    assert r.returncode == 0, r.stderr
    in_box = env_of(r.stdout)
    in_image = env_of(env_text)
    assert in_image["HOME"] == "/root" and in_image["USER"] == "root"
    assert {k: v for k, v in in_image.items() if k not in BY_DESIGN} == {
        k: v for k, v in in_box.items() if k not in BY_DESIGN
    }
    # rootless: the image's root is the user, its files in the user's home
    storage = user.home / ".local" / "share" / "containers" / "storage"
    assert (storage / "overlay").is_dir() and storage.stat().st_uid == user.uid
