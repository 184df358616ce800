"""`devbox gc` and `devbox ls` as users run them, over a store with images in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fake_images import IL1, IL3, IL4, make_image_store


def devbox(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEVBOX_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "devbox", *args],
        cwd=home.parent,
        env=env,
        capture_output=True,
        text=True,
    )


def test_gc_counts_image_layers_and_cached_blobs_apart(tmp_path: Path) -> None:
    st = make_image_store(tmp_path)
    r = devbox(st.root, "gc", "--dry-run")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[-1].startswith("would free ") and out[-1].endswith(
        f" in {st.root}: 2 image layers, 4 cached blobs (0.0 MiB)"
    )
    assert any(line.endswith(f"layer {IL3[:12]} image layer {IL3[:8]}") for line in out)
    assert any(line.endswith("image record registry.test:5000/gone:1") for line in out)
    assert st.layer_dir(IL4).is_dir(), "dry run"
    r = devbox(st.root, "gc")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].endswith(": 2 image layers, 4 cached blobs (0.0 MiB)")
    assert not st.layer_dir(IL4).exists() and st.layer_dir(IL1).is_dir()
    r = devbox(st.root, "gc")
    assert r.stdout.splitlines()[-1].endswith(f"freed 0.0 MiB in {st.root}"), "nothing left"
    assert r.stderr == ""


def test_ls_and_ls_json_show_the_blob_cache(tmp_path: Path) -> None:
    st = make_image_store(tmp_path)
    r = devbox(st.root, "ls")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-2].startswith("images: 7 cached blobs (")
    r = devbox(st.root, "ls", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["blob_cache"]["count"] == 7
    assert doc["shared_image_layers"]["count"] == 1
