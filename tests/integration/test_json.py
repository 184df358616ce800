"""`--json` of status, ls and doctor against a real box: parsed, and each value checked against
the store and the project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Devbox, MakeProject

pytestmark = pytest.mark.integration

SPEC = '[box]\nname = "jsonbox"\nbase = "debian:bookworm"\n'


def _json(devbox: Devbox, *args: str, cwd: Path) -> Any:
    r = devbox(*args, "--json", cwd=cwd)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return json.loads(r.stdout)


def test_status_ls_and_doctor_as_json(devbox: Devbox, make_project: MakeProject) -> None:
    project = make_project("json project", SPEC)
    before = _json(devbox, "status", cwd=project)
    assert before["up_to_date"] is False and before["layers_to_build"] in (0, 1)
    assert before["lock"] == {
        "path": str(project / "devbox.lock"),
        "exists": False,
        "matches": None,
        "state": "none (devbox build writes devbox.lock)",
    }

    devbox("build", cwd=project, check=True)
    st = _json(devbox, "status", cwd=project)
    assert (st["box"], st["project"], st["base"]) == ("jsonbox", str(project), "debian:bookworm")
    assert st["spec"] == str(project / "devbox.toml") and st["plan_error"] is None
    [layer] = st["layers"]
    digest = layer["digest"]
    meta = json.loads((devbox.store / "layers" / digest / "meta.json").read_text())
    assert layer == {
        "kind": "debian",
        "title": "base debian:bookworm",
        "digest": digest,
        "built": True,
        "size_bytes": meta["size"],
    }
    assert st["up_to_date"] is True and st["layers_to_build"] == 0
    assert st["state"] == "up to date with devbox.toml"
    assert st["lock"]["exists"] is True and st["lock"]["matches"] is True
    assert st["running"] is False and st["idle"] is False
    assert st["sandbox"]["tier"] == 1 and st["writable"]["path"].startswith(str(devbox.store))

    devbox("run", "--", "true", cwd=project, env={"DEVBOX_LINGER": "60"}, check=True)
    up = _json(devbox, "status", cwd=project)
    assert up["running"] is True and up["idle"] is True  # lingering, no session
    (project / "devbox.lock").write_text("# edited\n")
    assert _json(devbox, "status", cwd=project)["lock"]["matches"] is False

    ls = _json(devbox, "ls", cwd=project)
    assert ls["store"] == str(devbox.store)
    [box] = [b for b in ls["boxes"] if b["path"] == str(project)]
    assert box["name"] == "jsonbox" and box["layers"] == [digest]
    assert box["running"] is True and box["gone"] is False and box["missing_layers"] == []
    assert box["size_bytes"] == meta["size"] and box["last_used"].endswith("Z")
    [row] = [r for r in ls["layers"] if r["digest"] == digest]
    assert (row["kind"], row["title"], row["suite"], row["tier"]) == (
        "debian",
        "base debian:bookworm",
        "bookworm",
        1,
    )
    assert row["size_bytes"] == meta["size"] and str(project) in row["used_by"]
    assert ls["total_bytes"] >= sum(r["size_bytes"] for r in ls["layers"])
    devbox("reset", cwd=project, check=True)  # stops the idle box
    assert _json(devbox, "status", cwd=project)["running"] is False

    doc = _json(devbox, "doctor", cwd=project)
    assert doc["works"] is True and doc["tier"]["level"] == 1
    names = {c["name"]: c for c in doc["checks"]}
    assert names["bwrap"]["ok"] is True and names["bwrap"]["detail"].endswith("/bwrap")
    assert names["overlayfs"] == {
        "name": "overlayfs",
        "ok": True,
        "optional": False,
        "detail": "mounts as root",
        "fix": "",
    }


def test_quiet_and_verbose_after_build(devbox: Devbox, make_project: MakeProject) -> None:
    """`devbox build -q` / `-v` (after the command) reach the build display."""
    project = make_project("flags", SPEC)
    devbox("build", cwd=project, check=True)
    loud = devbox("build", cwd=project)
    assert loud.returncode == 0 and "base debian:bookworm" in loud.stdout + loud.stderr
    quiet = devbox("build", "-q", cwd=project)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout + quiet.stderr == ""
    verbose = devbox("build", "--verbose", cwd=project)
    assert verbose.returncode == 0, verbose.stderr
