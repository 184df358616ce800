"""The team layer cache, end to end. Machine A (root, a store of its own) builds a locked box
(apt libxml2-utils + jq, a [setup] step, [shell] workdir) through a local HTTP mirror that relays
the real Debian archive, with `--push-cache`. Machine B (fresh stores: a created user with a
subuid range, one without) builds the same locked spec while the mirror refuses jq's .deb: every
layer comes from the team cache, none is built, and the box holds what A's holds. A build
without the cache fails naming jq: it was out of reach.
"""

from __future__ import annotations

import os
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import Devbox
from tests.integration.rootless import TEST_USER_PREFIX, User, make_user, runtime, users_scratch
from tests.registry import Registry

pytestmark = pytest.mark.integration

UPSTREAM = "http://deb.debian.org/debian"
NAMES = {2: f"{TEST_USER_PREFIX}csub-{os.getpid()}", 3: f"{TEST_USER_PREFIX}cnosub-{os.getpid()}"}


class Mirror(ThreadingHTTPServer):
    refused: tuple[str, ...] = ()  # path parts answered 404


class Relay(BaseHTTPRequestHandler):
    server: Mirror

    def do_GET(self) -> None:
        path = self.path.removeprefix("/debian")
        if any(part in path for part in self.server.refused):
            self.send_error(404)
            return
        try:
            with urllib.request.urlopen(UPSTREAM + path, timeout=60) as up:
                data = up.read()
        except urllib.error.HTTPError as e:
            self.send_error(e.code)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def mirror() -> Iterator[Mirror]:
    server = Mirror(("127.0.0.1", 0), Relay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    yield from users_scratch(list(NAMES.values()), "creating test users needs root (CI is root)")


@pytest.fixture(scope="module")
def users(registry: Registry, base: Path) -> dict[int, User]:
    run = runtime(base)
    out = {tier: make_user(name, base, run, subids=tier == 2) for tier, name in NAMES.items()}
    for u in out.values():
        registry.trust(u.home, (u.uid, u.gid))
        registry.login(u.home, (u.uid, u.gid))
    return out


def spec(mirror: Mirror, cache: str) -> str:
    port = mirror.server_address[1]
    return (f'[box]\nname = "tc"\nbase = "debian:bookworm"\n'
            f'mirror = "http://127.0.0.1:{port}/debian"\n'
            '[packages]\napt = ["libxml2-utils", "jq"]\n'
            '[setup]\nrun = ["echo made > /opt/setup-made"]\n'
            '[shell]\nworkdir = "/workspace"\n'
            f'[cache]\nregistry = "{cache}"\n')  # fmt: skip


@pytest.fixture(scope="module")
def machine_a(registry: Registry, mirror: Mirror, base: Path) -> tuple[Path, str, dict[str, str]]:
    """A's project (built, locked, pushed to the cache) and `dpkg-query -W` in A's box."""
    home = base / "home-a"
    registry.trust(home)
    registry.login(home)
    project = base / "a" / "tc"
    project.mkdir(parents=True)
    (project / "devbox.toml").write_text(spec(mirror, registry.ref("team/cache")))
    dbx, env = Devbox(base / "store-a"), {"HOME": str(home)}
    r = dbx("build", "--push-cache", cwd=project, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("pushed to the team cache") == 3, r.stderr
    r = dbx("run", "--", "dpkg-query", "-W", cwd=project, env=env)
    assert r.returncode == 0, r.stderr
    return project, r.stdout, env


@pytest.mark.parametrize("tier", [2, 3])
def test_b_builds_every_layer_from_the_team_cache(
    machine_a: tuple[Path, str, dict[str, str]], users: dict[int, User], mirror: Mirror,
    base: Path, tier: int,
) -> None:  # fmt: skip
    project, packages, _ = machine_a
    user = users[tier]
    p = base / f"work-{user.name}" / "tc"
    p.mkdir(parents=True)
    for name in ("devbox.toml", "devbox.lock"):
        shutil.copyfile(project / name, p / name)
    user.own(p.parent)
    mirror.refused = ("/jq_",)  # jq's .deb is out of reach of B
    try:
        r = user.devbox("build", "--locked", cwd=p)
    finally:
        mirror.refused = ()
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("from the team cache") == 3, r.stderr
    assert "built in" not in r.stderr
    assert "layers: [1/3] team cache, [2/3] team cache, [3/3] team cache" in (r.stderr)
    r = user.devbox("run", "--", "sh", "-c", "dpkg-query -W; cat /opt/setup-made", cwd=p)
    assert r.returncode == 0, r.stderr
    assert r.stdout == packages + "made\n"


def test_without_the_cache_jq_is_out_of_reach(
    machine_a: tuple[Path, str, dict[str, str]], mirror: Mirror, base: Path
) -> None:
    project, _, env = machine_a
    p = base / "b-nocache" / "tc"
    p.mkdir(parents=True)
    for name in ("devbox.toml", "devbox.lock"):
        shutil.copyfile(project / name, p / name)
    mirror.refused = ("/jq_",)
    try:
        r = Devbox(base / "store-nocache")(
            "build", "--locked", cwd=p, env={**env, "DEVBOX_CACHE": ""}
        )
    finally:
        mirror.refused = ()
    assert r.returncode != 0
    assert "apt libxml2-utils jq failed" in r.stderr and "/jq_" in r.stderr, r.stderr
