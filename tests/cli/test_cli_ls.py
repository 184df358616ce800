"""`devbox ls` as users run it: an empty store, and a store with boxes and layers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import APT, BASE, make_fake_store


def devbox_ls(home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEVBOX_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "devbox", "ls"], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_ls_on_an_empty_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    r = devbox_ls(home, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["no boxes yet (devbox build makes one)", f"store: {home}"]
    assert r.stderr == ""


def test_ls_lists_boxes_and_layers(tmp_path: Path) -> None:
    st = make_fake_store(tmp_path)
    r = devbox_ls(st.root, tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "boxes (projects):"
    assert [line.split()[0] for line in out[1:4]] == ["BOX", "api", "webapp"]
    assert "layers:" in out
    base = next(line for line in out if line.startswith(f"  {BASE[:12]}"))
    apt = next(line for line in out if line.startswith(f"  {APT[:12]}"))
    assert base.endswith("  177.4 MiB  api (gone), webapp")
    assert apt.endswith("   64.3 MiB  webapp")
    assert out[-1].startswith(f"store: {st.root}  total ")
    assert r.stderr == ""
