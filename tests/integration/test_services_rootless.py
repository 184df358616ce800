"""Services as created unprivileged users: one with a subuid range (tier 2) and one without
(tier 3) each bring a real redis-server up in a box, kill it and see it restarted, take it down
and find no process left; the data stays in the project, the user's own."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.rootless import TEST_USER_PREFIX, User, make_user, runtime, users_scratch
from tests.integration.services import REDIS_SPEC, free_port, processes, redis, wait_for

pytestmark = pytest.mark.integration

NAMES = {
    True: f"{TEST_USER_PREFIX}svsub-{os.getpid()}",
    False: f"{TEST_USER_PREFIX}svnone-{os.getpid()}",
}


QUICK = {"DEVBOX_LINGER": "1"}  # the box goes soon after its services: the user can be removed


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    yield from users_scratch(
        list(NAMES.values()), "creating test users needs root (CI runs as root)"
    )


@pytest.mark.parametrize("subids", [True, False], ids=["tier2", "tier3"])
def test_a_user_brings_services_up_and_down(base: Path, subids: bool) -> None:
    user: User = make_user(NAMES[subids], base, runtime(base), subids=subids)
    port = free_port()
    project = base / f"work-{user.name}" / "proj"
    project.mkdir(parents=True)
    (project / "devbox.toml").write_text(REDIS_SPEC.format(port=port, extra=""))
    user.own(project.parent)
    try:
        r = user.devbox("up", cwd=project, env=QUICK)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"cache: ready on 127.0.0.1:{port}")
        assert "+PONG" in redis(port, "PING")
        r = user.devbox("services", "--json", cwd=project)
        cache = json.loads(r.stdout)["services"][0]
        assert cache["state"] == "running" and cache["ready"]
        pid = cache["pid"]
        assert os.stat(f"/proc/{pid}").st_uid != 0  # the user's, not root's
        os.kill(pid, signal.SIGKILL)

        def restarted() -> bool:
            now = json.loads(user.devbox("services", "--json", cwd=project).stdout)["services"][0]
            return bool(now["ready"]) and now["restarts"] == 1

        assert wait_for(restarted, timeout=30)
        assert redis(port, "SET", "k", "v").startswith("+OK")
        r = user.devbox("down", cwd=project)
        assert r.returncode == 0 and r.stdout.strip() == "cache: stopped", r.stderr
        assert processes(f"--port {port}") == [] and processes(str(project)) == []
        data = project / ".devbox" / "data" / "cache"
        assert data.is_dir() and (data / "dump.rdb").exists()  # redis saved on SIGTERM
        assert user.devbox("up", cwd=project, env=QUICK).returncode == 0
        assert redis(port, "GET", "k") == "$1\r\nv\r\n"
    finally:
        user.devbox("down", cwd=project)
    assert processes(f"--port {port}") == []
