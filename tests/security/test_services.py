"""Services and the boundary: the working tree is the box's, so a `box = "..."` directory or its
devbox.toml that a box turned into a symlink is refused, not followed; what reaches supervisord's
config is devbox's own (a service's command and env go to the runner's plan, never into that
config, so `%(ENV_X)s` and newlines stay literal); a service's log reaches the terminal escaped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox.store.paths import ProjectPaths, Store
from tests.helpers import Devbox, write_project
from tests.integration.services import processes

BOX = '[box]\nbase = "debian:bookworm"\n'


@pytest.fixture
def cleanup(devbox: Devbox) -> Iterator[list[Path]]:
    projects: list[Path] = []
    yield projects
    for p in projects:
        devbox("down", cwd=p)


def test_a_service_box_that_is_a_symlink_is_refused(devbox: Devbox, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "devbox.toml").write_text(BOX + '[packages]\napt = ["sl"]\n')
    spec = BOX + '[services.db]\ncommand = "sleep 100"\nbox = "db"\n'
    proj = write_project(tmp_path / "p", spec)
    os.symlink(outside, proj / "db")  # the whole dir
    r = devbox("up", cwd=proj)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "is a symlink" in r.stderr and "db" in r.stderr
    os.unlink(proj / "db")
    (proj / "db").mkdir()
    os.symlink(outside / "devbox.toml", proj / "db" / "devbox.toml")  # the spec alone
    r = devbox("up", cwd=proj)
    assert r.returncode == 1 and "is a symlink" in r.stderr
    state = ProjectPaths(Store(devbox.store).project_dir(proj)).services
    assert processes(str(proj)) == [] and not list(state.glob("*.json"))


def test_a_command_never_reaches_supervisords_config(
    devbox: Devbox, tmp_path: Path, cleanup: list[Path]
) -> None:
    spec = BOX + (
        "[services.echo]\n"
        "command = '''printf '%s\\n' 'literal %(ENV_HOME)s %(here)s'; exec sleep 100'''\n"
        'env = { X = "%(ENV_PATH)s" }\n'
        'ready = "test -n \\"$X\\""\n'
    )
    proj = write_project(tmp_path / "p", spec)
    cleanup.append(proj)
    r = devbox("up", cwd=proj)
    assert r.returncode == 0, r.stderr
    log = devbox("logs", "echo", cwd=proj).stdout
    assert "literal %(ENV_HOME)s %(here)s" in log
    conf = next(devbox.store.glob("projects/*/services/supervisord.conf"))
    text = conf.read_text()
    assert "printf" not in text and "ENV_PATH" not in text and "%(" not in text


def test_a_log_reaches_the_terminal_escaped(
    devbox: Devbox, tmp_path: Path, cleanup: list[Path]
) -> None:
    spec = BOX + (
        "[services.noisy]\n"
        "command = \"printf 'title \\\\033]0;owned\\\\007 end\\\\n'; exec sleep 100\"\n"
    )
    proj = write_project(tmp_path / "p", spec)
    cleanup.append(proj)
    assert devbox("up", cwd=proj).returncode == 0
    out = devbox("logs", cwd=proj).stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "title \\x1b]0;owned\\x07 end" in out
