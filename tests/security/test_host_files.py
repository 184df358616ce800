"""The host never follows a path the box can write: a box-planted symlink where devbox writes or
reads on the host is refused or not followed, and the host file it names is untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.actors import Actor, changed

pytestmark = pytest.mark.integration


def test_the_lock_is_not_written_through_a_planted_symlink(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    p = actor.project("lock-link")
    r = actor.devbox("build", cwd=p)
    assert r.returncode == 0, r.stderr
    victim = actor.home / "victim"
    r = actor.devbox("run", "--", "sh", "-c", f"rm devbox.lock; ln -s {victim} .devbox.lock.new",
                     cwd=p)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = actor.devbox("run", "--", "true", cwd=p)
    assert "Traceback" not in r.stderr
    assert changed(sentinels) == []


def test_init_refuses_a_dangling_spec_symlink(actor: Actor, sentinels: dict[Path, bytes]) -> None:
    p = actor.project("init-link")
    (p / "devbox.toml").unlink()
    target = actor.home / "planted.toml"
    actor.sh(f"ln -s {target} devbox.toml", cwd=p)
    for force in ([], ["--force"]):
        r = actor.devbox("init", *force, cwd=p)
        assert "Traceback" not in r.stderr
        assert r.returncode == 1, r.stdout + r.stderr
        assert "symlink" in r.stderr
        assert not target.exists()
    assert changed(sentinels) == []
