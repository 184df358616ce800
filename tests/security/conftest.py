"""Fixtures of the security tests: an actor per tier, each with a store that already holds the
bookworm base (built once per session), and host files to protect.

Tier 1 is this (root) process with a home of its own under tmp; tiers 2 and 3 are created users
(tests/integration/rootless.py). Like the rootless tests, they run in the "users" xdist group.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.rootless import (
    TEST_USER_PREFIX,
    make_user,
    runtime,
    users_scratch,
)
from tests.security.actors import Actor, plant_sentinels

NAMES = {
    2: f"{TEST_USER_PREFIX}secsub-{os.getpid()}",
    3: f"{TEST_USER_PREFIX}secnosub-{os.getpid()}",
}


@pytest.fixture(scope="session")
def security_base() -> Iterator[Path]:
    yield from users_scratch(
        list(NAMES.values()),
        "the security tests create users and run tier 1: they need root (CI is root)",
    )


@pytest.fixture(scope="session")
def actors(security_base: Path, shared_store: Path) -> dict[int, Actor]:
    """One actor per tier, each with the base built in its store."""
    out: dict[int, Actor] = {}
    root_home = security_base / "home-root"
    root_home.mkdir()
    out[1] = Actor(1, root_home, security_base / "work-root",
                   extra_env={"DEVBOX_HOME": str(shared_store)})  # fmt: skip
    run = runtime(security_base)
    for tier, name in NAMES.items():
        user = make_user(name, security_base, run, subids=tier == 2)
        work = security_base / f"work-{name}"
        out[tier] = Actor(tier, user.home, work, user.uid, user.gid, user)
    for actor in out.values():
        actor.work.mkdir(parents=True)
        actor.own(actor.work)
        p = actor.project("warm-base")
        r = actor.devbox("build", cwd=p)
        assert r.returncode == 0, f"tier {actor.tier}: {r.stdout}{r.stderr}"
    return out


@pytest.fixture(params=[1, 2, 3], ids=["tier1", "tier2", "tier3"])
def actor(request: pytest.FixtureRequest, actors: dict[int, Actor]) -> Actor:
    a: Actor = actors[request.param]
    return a


@pytest.fixture
def sentinels(actor: Actor) -> dict[Path, bytes]:
    return plant_sentinels(actor.home, actor.uid, actor.gid)
