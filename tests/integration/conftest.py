"""Session fixtures of the image tests: a real registry on 127.0.0.1 (TLS, htpasswd) and the
test images built and pushed into it (tests/registry.py, tests/images.py).

Both are made once per xdist worker, when a test first asks for them: the image tests are one
xdist group ("images", tests/conftest.py) so the images are built once, in one worker, beside
the other integration tests. A test that creates users belongs to the "users" group instead (two
workers must never create users at once); it asks for `registry` alone (a registry starts in a
fraction of a second) and pushes the small image it needs itself, so the images are not built a
second time in the users' worker.

`box` is a built Debian box (tests/integration/test_images_export.py's SPEC) in the session's
store, with a HOME logged in to the registry: built once, for the export tests and the sharing
tests (a pushed box as a devcontainer and a Pod).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Devbox, write_project
from tests.images import Images, build_images, need_tools
from tests.registry import Registry, start_registry


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def images(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Images:
    if os.geteuid() != 0:
        pytest.skip("building the test images needs root (mmdebstrap, podman)")
    cache = tmp_path_factory.getbasetemp() / "image-cache"  # the mmdebstrap tarball
    return build_images(registry, tmp_path_factory.mktemp("images"), cache)


@dataclass
class Box:
    project: Path
    devbox: Devbox
    home: Path  # HOME for skopeo: the registry's login is there
    tmp: Path

    def __call__(self, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
        return self.devbox(*args, cwd=self.project, env={"HOME": str(home or self.home)})


@pytest.fixture(scope="session")
def box(
    shared_store: Path, registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Box]:
    if os.geteuid() != 0:
        pytest.skip("exporting a Debian box needs root here (mmdebstrap, podman)")
    need_tools()
    from tests.integration.test_images_export import SPEC  # its tests check what SPEC says

    tmp = tmp_path_factory.mktemp("export")
    project = write_project(tmp / "proj", SPEC)
    registry.trust(tmp / "home")
    registry.login(tmp / "home")
    b = Box(project, Devbox(shared_store), tmp / "home", tmp)
    b.devbox("build", cwd=project, check=True)
    yield b
