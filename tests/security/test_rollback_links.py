"""A rollback writes devbox.toml and devbox.lock into the working tree, which a box can write: a
link planted there is replaced, never written through, and a symlinked devbox.toml is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devbox.commands.rollback import _put
from devbox.history.records import Generation, history_dir, write
from devbox.store.paths import Store


def test_a_planted_lock_link_is_replaced_not_followed(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    victim = tmp_path / "host file"
    victim.write_text("the host's\n")
    (project / "devbox.lock").symlink_to(victim)
    _put(project, "devbox.lock", b"lock-version = 2\n")
    assert victim.read_text() == "the host's\n"
    assert not (project / "devbox.lock").is_symlink()
    assert (project / "devbox.lock").read_bytes() == b"lock-version = 2\n"
    os.unlink(project / "devbox.lock")
    (project / "devbox.lock").symlink_to(victim)
    _put(project, "devbox.lock", None)  # a generation without a lock: the link goes, not its target
    assert victim.exists() and not os.path.lexists(project / "devbox.lock")


def test_a_symlinked_spec_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    home, project, other = tmp_path / "home", tmp_path / "project", tmp_path / "other"
    project.mkdir()
    other.mkdir()
    spec = '[box]\nbase = "debian:bookworm"\n'
    (other / "devbox.toml").write_text(spec)
    (project / "devbox.toml").symlink_to(other / "devbox.toml")
    text = '[box]\nbase = "debian:trixie"\n'
    import hashlib

    sha = hashlib.sha256(text.encode()).hexdigest()
    gen = Generation(1, 0.0, "p", sha, text, sha, "", ("a" * 64,), "root")
    write(history_dir(Store(home), project), gen)
    env = dict(os.environ, DEVBOX_HOME=str(home))
    r = subprocess.run(
        [sys.executable, "-m", "devbox", "rollback", "1"],
        cwd=project, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 1 and "symbolic link" in r.stderr, r
    assert (other / "devbox.toml").read_text() == spec
    assert not (project / "devbox.lock").exists() and not (other / "devbox.lock").exists()
