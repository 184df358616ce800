"""Fetching ahead as a user with a subuid range (tier 2): the fetch runs apt in the build's
user namespace, as mmdebstrap is run, and its files land in the user's cache as mmdebstrap's
own would; the apt layer downloads nothing. Tier 1 is tests/integration/test_fetch_ahead.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.rootless import (
    TEST_USER_PREFIX,
    User,
    make_user,
    runtime,
    users_scratch,
)

pytestmark = pytest.mark.integration

NAME = f"{TEST_USER_PREFIX}fetch-{os.getpid()}"


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    yield from users_scratch([NAME], "creating a test user needs root (CI runs as root)")


@pytest.fixture(scope="module")
def user(base: Path) -> User:
    return make_user(NAME, base, runtime(base), subids=True)


def test_a_users_cold_build_fetches_ahead_into_their_own_cache(user: User, base: Path) -> None:
    project = base / "work" / "cold"
    project.mkdir(parents=True)
    (project / "devbox.toml").write_text(
        '[box]\nbase = "debian:bookworm"\n[packages]\napt = ["lzop"]\n'
    )
    user.own(project.parent)
    store = user.home / "store"
    r = user.devbox("build", cwd=project, env={"DEVBOX_HOME": str(store)})
    assert r.returncode == 0, r.stderr
    assert "fetching packages ahead" not in r.stderr, r.stderr  # it did not fail
    log = "".join(p.read_text(errors="replace") for p in (store / "logs").glob("*.log"))
    fetched = [ln for ln in log.splitlines() if ln.startswith("devbox: fetched ")]
    assert len(fetched) == 1 and not fetched[0].startswith("devbox: fetched 0 "), fetched
    assert "Need to get 0 B/" in log.split("\n$ ")[-1]
    debs = list(store.glob("cache/apt/bookworm-*/archives/liblzo2-2_*.deb"))
    assert debs and debs[0].stat().st_uid != 0  # in the user's cache, not root's
    r = user.devbox("run", "--", "lzop", "--version", cwd=project, env={"DEVBOX_HOME": str(store)})
    assert r.returncode == 0, r.stderr
