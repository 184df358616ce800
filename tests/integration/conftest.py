"""Session fixtures of the image tests: a real registry on 127.0.0.1 (TLS, htpasswd) and the
test images built and pushed into it (tests/registry.py, tests/images.py).

Both are made once per xdist worker, when a test first asks for them: the image tests are one
xdist group ("images", tests/conftest.py) so the images are built once, in one worker, beside
the other integration tests. A test that creates users belongs to the "users" group instead (two
workers must never create users at once); it asks for `registry` alone (a registry starts in a
fraction of a second) and pushes the small image it needs itself, so the images are not built a
second time in the users' worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.images import Images, build_images
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
