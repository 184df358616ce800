"""Trust as a user sees it with no DEVBOX_HOME at all (the default): the store and the state dir
are platformdirs' under the user's home, and every entry (a shim, the launcher's hand-over to
Python, `devbox run`, `devbox status`) must read the same trust records from there."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.rootless import TEST_USER_PREFIX, User, make_user, runtime, users_scratch

pytestmark = pytest.mark.integration

NAMES = {2: f"{TEST_USER_PREFIX}tsub-{os.getpid()}", 3: f"{TEST_USER_PREFIX}tnosub-{os.getpid()}"}

SPEC = """\
[box]
name = "inputs"
base = "debian:bookworm"

[setup]
run = ["cp requirements.txt /etc/requirements"]
inputs = ["requirements.txt"]

[shell]
expose = ["cat"]
"""


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    yield from users_scratch(list(NAMES.values()), "creating test users needs root")


@pytest.fixture(scope="module")
def users(base: Path) -> dict[int, User]:
    run = runtime(base)
    return {tier: make_user(name, base, run, subids=tier == 2) for tier, name in NAMES.items()}


def _shims(user: User, p: Path) -> Path:
    r = user.devbox("_hook-env", "bash", str(p / "devbox.toml"), cwd=p)
    assert r.returncode == 0, r.stderr
    path = next(line for line in r.stdout.splitlines() if line.startswith("_devbox_set PATH "))
    return Path(shlex.split(path)[2].split(":")[0])


@pytest.mark.parametrize("tier", [2, 3])
def test_a_changed_setup_input_is_named_by_every_entry_without_devbox_home(
    users: dict[int, User], base: Path, tier: int
) -> None:
    user = users[tier]
    assert "DEVBOX_HOME" not in user.env()
    p = base / f"work-{user.name}" / "inputs"
    p.mkdir(parents=True)
    (p / "devbox.toml").write_text(SPEC)
    (p / "requirements.txt").write_text("flask==3.0\n")
    user.own(p.parent)
    r = user.devbox("build", cwd=p)
    assert r.returncode == 0, r.stderr
    assert user.devbox("allow", cwd=p).returncode == 0
    state = user.home / ".local" / "state" / "devbox" / "trust"
    assert len(list(state.iterdir())) == 1, "the trust record is in the user's state dir"
    assert not (user.home / ".local" / "share" / "devbox" / "state").exists()
    cat = f"'{_shims(user, p)}/cat' /etc/requirements"
    r = user.sh(cat, cwd=p)
    assert (r.returncode, r.stdout) == (0, "flask==3.0\n"), r.stderr

    (p / "requirements.txt").write_text("flask==3.1\n")
    changed = "setup input requirements.txt changed"
    r = user.sh(cat, cwd=p)  # the launcher sees the input change and hands over to Python
    assert r.returncode != 0 and r.stdout == "", r.stdout
    assert changed in r.stderr and "not allowed" not in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    r = user.devbox("status", cwd=p)
    assert r.returncode == 0, r.stderr
    assert f"trust:    changed since allowed: {changed}" in r.stdout, r.stdout
    # an explicit `devbox run` is the user's own command: it builds and runs the new input
    r = user.devbox("run", "--", "cat", "/etc/requirements", cwd=p)
    assert (r.returncode, r.stdout) == (0, "flask==3.1\n"), r.stderr
    r = user.sh(cat, cwd=p)  # but the shim still asks for an allow
    assert r.returncode != 0 and changed in r.stderr, r.stdout + r.stderr
    assert changed in user.devbox("status", cwd=p).stdout

    assert user.devbox("allow", cwd=p).returncode == 0
    r = user.sh(cat, cwd=p)
    assert (r.returncode, r.stdout) == (0, "flask==3.1\n"), r.stderr
    r = user.devbox("status", cwd=p)
    assert "trust:    allowed " in r.stdout, r.stdout
