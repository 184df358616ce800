"""`devbox init --template` writes a directory template's files into the working tree, which the
box can write: a symlink the box planted there (a directory on the way, or a file the template
writes) is refused, never followed, a FIFO is never opened, and a refusal writes nothing, not even
the files before it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.security.actors import Actor, changed

pytestmark = pytest.mark.integration


def _init(actor: Actor, project: Path, *force: str) -> str:
    r = actor.devbox("init", "--template", "django-postgres", *force, cwd=project, timeout=60)
    assert "Traceback" not in r.stderr
    assert r.returncode == 1, r.stdout + r.stderr
    return r.stderr


def test_a_planted_directory_symlink_is_not_written_through(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    """services -> a directory of the user's: nothing is made there, nothing in the project."""
    p = actor.project("tmpl-dir-link")
    outside = actor.home / "elsewhere"
    actor.sh(f"mkdir {outside} && ln -s {outside} services && ln -s {outside}/gone hits", cwd=p)
    for force in ([], ["--force"]):
        assert "symlink" in _init(actor, p, *force)
    assert os.listdir(outside) == []
    assert sorted(os.listdir(p)) == ["devbox.toml", "hits", "services"], "nothing written"
    assert changed(sentinels) == []


def test_a_planted_file_symlink_is_not_written_through(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    """start-postgres.sh -> the user's file, even with --force: refused; the file as it was."""
    p = actor.project("tmpl-file-link")
    victim = actor.home / "victim"
    actor.sh(f"mkdir -p services/db && ln -s {victim} services/db/start-postgres.sh", cwd=p)
    err = _init(actor, p, "--force")
    assert "start-postgres.sh is a symlink" in err
    assert not (p / "manage.py").exists()
    assert changed(sentinels) == []


def test_a_planted_fifo_is_refused_without_being_opened(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    p = actor.project("tmpl-fifo")
    actor.sh("mkdir config && mkfifo config/settings.py", cwd=p)
    err = _init(actor, p, "--force")  # a read or write of the FIFO would hang: timeout=60
    assert "config/settings.py is in the way" in err
    assert not (p / "manage.py").exists()
    assert changed(sentinels) == []
