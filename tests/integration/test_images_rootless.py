"""Image bases as created users: one with a subuid range (tier 2), one without (tier 3). Each pulls
a two-layer image from the test registry with its own credentials and CA (in its own home, where
skopeo reads them), and enters it. The image has files of several owners, a setuid program, a
file capability, a whiteout and an opaque directory: each tier maps them as its uid map allows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.images import Podman, base_tarball
from tests.integration.rootless import TEST_USER_PREFIX, User, make_user, runtime, users_scratch
from tests.registry import Registry

pytestmark = pytest.mark.integration

NAMES = {2: f"{TEST_USER_PREFIX}isub-{os.getpid()}", 3: f"{TEST_USER_PREFIX}inosub-{os.getpid()}"}
UPPER = """\
RUN rm /opt/gone && rm -rf /opt/replaced && mkdir /opt/replaced && echo new > /opt/replaced/new \\
 && echo owned > /opt/owned && chown 1234:4321 /opt/owned \\
 && cp /bin/true /opt/suid && chmod 4755 /opt/suid
"""


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    yield from users_scratch(
        list(NAMES.values()), "creating test users needs root (CI runs as root)"
    )


@pytest.fixture(scope="module")
def image(registry: Registry, base: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """test/rootless:1: the base tarball imported, and an upper layer of podman's."""
    tar = base_tarball(tmp_path_factory.getbasetemp() / "image-cache")
    pod = Podman(registry, tmp_path_factory.mktemp("podman-rootless"))
    pod("import", "--quiet", str(tar), "localhost/test/rootless-base:1")
    pod.build("test/rootless:1", "FROM localhost/test/rootless-base:1\n" + UPPER,
              tmp_path_factory.mktemp("ctx"))  # fmt: skip
    pod.push("test/rootless:1")
    return registry.ref("test/rootless:1")


@pytest.fixture(scope="module")
def users(registry: Registry, base: Path) -> dict[int, User]:
    run = runtime(base)
    out = {tier: make_user(name, base, run, subids=tier == 2) for tier, name in NAMES.items()}
    for u in out.values():
        registry.trust(u.home, (u.uid, u.gid))
        registry.login(u.home, (u.uid, u.gid))
    return out


@pytest.mark.parametrize("tier", [2, 3])
def test_a_created_user_pulls_and_enters_an_image(
    users: dict[int, User], image: str, base: Path, tier: int
) -> None:
    user = users[tier]
    p = base / f"work-{user.name}" / "img"
    p.mkdir(parents=True)
    (p / "devbox.toml").write_text(f'[box]\nname = "img"\nbase = "oci:{image}"\n')
    user.own(p.parent)
    # no XDG_RUNTIME_DIR (as after `su`): skopeo's default auth file would be under
    # /run/containers, which root's podman made 0700; devbox gives skopeo a runtime dir of its own
    r = user.devbox("build", cwd=p)
    assert r.returncode == 0, r.stderr
    script = (
        "cat /etc/os-release; ls /opt/replaced; test ! -e /opt/gone && echo no-gone; "
        "stat -c '%u:%g %A' /opt/owned /opt/suid /etc/passwd"
    )
    r = user.devbox("run", "--", "sh", "-c", script, cwd=p)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert "VERSION_CODENAME=bookworm" in out
    assert "new" in out and "old1" not in out and "no-gone" in out
    owned, suid, passwd = out[-3:]
    if tier == 2:  # the whole map: the image's ids are the box's ids
        assert owned.startswith("1234:4321 ") and suid == "0:0 -rwsr-xr-x"
        assert passwd.startswith("0:0 ")
    else:  # one id: every file is the user's (root in the box's own namespace)
        assert suid.endswith("-rwsr-xr-x")
        assert owned.split()[0] == suid.split()[0] == passwd.split()[0]
    # the user's store holds the layers, owned by them; nothing was written as root
    metas = list(user.home.rglob("layers/*/meta.json"))
    assert len(metas) >= 3 and all(f.stat().st_uid == user.uid for f in metas)
