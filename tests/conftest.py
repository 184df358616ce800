"""Shared fixtures. No test touches the real store: DEVBOX_HOME always points at a temp dir.

Integration tests share one store for the whole session, so the bookworm base is bootstrapped
by mmdebstrap once and every later box reuses it (as two users' projects would). Under xdist
(scripts/test runs two workers) they therefore all run in one worker, one after another.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers import Devbox, MakeProject, need_root_tools, write_project

if TYPE_CHECKING:
    from xdist.remote import Producer
    from xdist.scheduler import LoadScopeScheduling


# Tests with real unprivileged users (tests/integration/rootless.py), who build in stores of their
# own: one group, so that two of them never make users (and pick subuid ranges) at once.
USER_TESTS = (
    "tests/integration/test_rootless.py::",
    "tests/integration/test_rootless_trust.py::",
    "tests/integration/test_demo.py::",
    "tests/integration/test_tutorial.py::",
    "tests/integration/test_registry_fixture.py::test_a_user_",
    "tests/integration/test_images_rootless",
    "tests/integration/test_images_export_rootless.py::",
    "tests/integration/test_services_rootless.py::",
    "tests/integration/test_services_django_rootless.py::",
    "tests/integration/test_limits_rootless.py::",
    "tests/integration/test_fetch_ahead_rootless.py::",
    "tests/security/",
)
# Tests of images (pulled from the session's registry, tests/integration/conftest.py): one group,
# so the images are built once, in one worker, beside the integration group. (Image tests with
# created users are in USER_TESTS above: test_images_rootless*.py and
# test_images_export_rootless.py.)
IMAGE_TESTS = ("tests/integration/test_images", "tests/integration/test_registry_fixture.py::")
# Tests of services (real servers under supervisord): one group beside the integration one.
SERVICE_TESTS = ("tests/integration/test_services",)


def xdist_group(nodeid: str) -> str | None:
    """The tests that must run in one xdist worker, one after another (scripts/test runs two
    workers with --dist loadgroup): the integration tests, and apart from them the ones with
    real users, and the image tests (which share the session's test images).

    Spread over workers, each worker would bootstrap its own base into its own store (the
    session's), and tests that check what a build leaves in the store would see the other
    worker's builds. The users' tests share nothing with them, so that group runs beside the
    integration one, and the unit and CLI tests fill in around both. The image tests build
    their own images (no mmdebstrap base shared with the integration group), so they too run
    beside it."""
    if nodeid.startswith(USER_TESTS):
        return "users"
    if nodeid.startswith(IMAGE_TESTS):
        return "images"
    if nodeid.startswith(SERVICE_TESTS):
        return "services"
    if nodeid.startswith("tests/integration/"):
        return "integration"
    return None


@pytest.hookimpl(optionalhook=True)  # an xdist hook: pytest -p no:xdist still loads this file
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> LoadScopeScheduling | None:
    """--dist loadgroup with the groups of xdist_group(), by path. (xdist's own loadgroup reads
    xdist_group marks through a node attribute that pytest 9.2 no longer reads, so it would
    silently spread every group over the workers.)"""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Groups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid) or nodeid

    return Groups(config, log)


@pytest.fixture(autouse=True)
def _no_real_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVBOX_HOME", str(tmp_path / "devbox-home"))
    # desktop entries devbox writes for a box's apps go under the test's tmp, never the user's
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    # idle boxes linger 2 s, not a minute: the suite's many boxes go soon after their tests
    # (tests of lingering set their own)
    monkeypatch.setenv("DEVBOX_LINGER", "2")


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture
def devbox(shared_store: Path) -> Devbox:
    need_root_tools()
    return Devbox(shared_store)


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    def make(name: str, spec: str, files: dict[str, str] | None = None) -> Path:
        return write_project(tmp_path / name, spec, files)

    return make
