"""The installed `devbox` front with a real box: `devbox run -- CMD` reaches the project's
launcher without Python, hands over when the spec changed, and gc drops a deleted project's
index entry."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from devbox.store.paths import launcher_index, launcher_path, project_id
from tests.helpers import LAUNCHER_SPEC, Devbox, MakeProject

pytestmark = pytest.mark.integration

FRONT = Path(sys.executable).with_name("devbox")
NO_PYTHON = {"PYTHONHOME": "/nonexistent"}  # any Python started with this dies at once


@pytest.fixture
def front() -> Path:
    if not FRONT.is_file() or FRONT.read_bytes()[:9] != b"#!/bin/sh":
        pytest.fail(f"{FRONT} is not devbox's sh front (install devbox: ./scripts/setup.sh)")
    return FRONT


@pytest.fixture
def entered(devbox: Devbox, make_project: MakeProject) -> Path:
    """A project whose box devbox entered once (through Python), so it has a launcher."""
    project: Path = make_project("front 'project' ü", LAUNCHER_SPEC, {"seed.txt": "seed-1\n"})
    devbox("run", "--", "true", cwd=project, check=True)
    return project


def run_front(
    devbox: Devbox, front: Path, *args: str, cwd: Path, extra: dict[str, str] | None = None,
    **kw: Any,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [str(front), *args], cwd=cwd, env=devbox.env(extra), capture_output=True, text=True,
        timeout=600, **kw,
    )  # fmt: skip


def test_the_entry_points_at_the_launcher(devbox: Devbox, entered: Path) -> None:
    entry = launcher_index(entered, devbox.store)
    assert entry.is_symlink()
    assert Path(os.readlink(entry)) == launcher_path(entered, devbox.store)


def test_run_through_the_front_starts_no_python(devbox: Devbox, front: Path, entered: Path) -> None:
    launcher = launcher_path(entered, devbox.store)
    before = launcher.read_text()
    script = 'echo out; echo err >&2; cat /etc/seeded; echo "$GREETING"; exit 3'
    r = run_front(devbox, front, "run", "--", "sh", "-c", script, cwd=entered, extra=NO_PYTHON)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\nseed-1\nhello\n", "err\n")
    sub = entered / "sub dir"
    sub.mkdir()
    r = run_front(devbox, front, "run", "pwd", cwd=sub, extra=NO_PYTHON)
    assert (r.returncode, r.stdout) == (0, f"{sub}\n"), r.stderr
    r = run_front(devbox, front, "run", "tr", "a-z", "A-Z", cwd=sub, input="piped\n")
    assert (r.returncode, r.stdout) == (0, "PIPED\n"), r.stderr
    assert launcher.read_text() == before, "the launcher did not hand over (that rewrites it)"
    r = run_front(devbox, front, "run", "--root", "--", "id", "-u", cwd=entered, extra=NO_PYTHON)
    assert r.returncode != 0 and "Python" in r.stderr, "an option takes the Python path"


def test_a_spec_edit_hands_over_and_still_works(devbox: Devbox, front: Path, entered: Path) -> None:
    launcher = launcher_path(entered, devbox.store)
    before = launcher.read_text()
    spec = entered / "devbox.toml"
    spec.write_text(spec.read_text().replace('"hello"', '"edited"'))
    r = run_front(devbox, front, "run", "--", "sh", "-c", 'echo "$GREETING"; exit 4', cwd=entered)
    assert (r.returncode, r.stdout) == (4, "edited\n"), r.stderr
    assert launcher.read_text() != before, "handed over: Python rewrote the launcher"
    r = run_front(devbox, front, "run", "--", "sh", "-c", 'echo "$GREETING"', cwd=entered,
                  extra=NO_PYTHON)  # fmt: skip
    assert (r.returncode, r.stdout) == (0, "edited\n"), r.stderr


def test_gc_drops_a_deleted_projects_entry(
    devbox: Devbox, front: Path, make_project: MakeProject
) -> None:
    kept: Path = make_project("kept", LAUNCHER_SPEC, {"seed.txt": "seed-1\n"})  # keeps the layers
    gone: Path = make_project("gone/deep", LAUNCHER_SPEC, {"seed.txt": "seed-1\n"})
    for project in (kept, gone):
        devbox("run", "--", "true", cwd=project, check=True)
    entry = launcher_index(gone, devbox.store)
    assert entry.is_symlink()
    pid_file = devbox.store / "projects" / project_id(gone) / "run" / "supervisor.pid"
    deadline = time.monotonic() + 30
    while pid_file.exists() and time.monotonic() < deadline:  # the box stops after its session
        time.sleep(0.05)
    shutil.rmtree(gone.parent)
    r = run_front(devbox, front, "gc", cwd=kept)
    assert r.returncode == 0, r.stderr
    assert not entry.is_symlink()
    assert not entry.parent.parent.exists(), "the directories it leaves empty go too"
    assert launcher_index(kept, devbox.store).is_symlink()
