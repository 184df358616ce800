"""Build history and rollback with real builds (the Debian archive, bwrap, tier 1): generations
recorded by successful builds only, a rollback that builds nothing when the layers are stored,
gc --keep, and bad input that changes nothing."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.helpers import Devbox, MakeProject, layer_dirs

SPEC = '[box]\nname = "hist"\nbase = "debian:bookworm"\n[packages]\napt = {}\n'
# packages no other test asks for alone: the shared store must not hold a layer another test
# expects to build (test_watch builds ["jq"])
ONE, TWO = SPEC.format('["bc"]'), SPEC.format('["bc", "units"]')
BROKEN = SPEC.format('["bc=0.0-nope"]')
NO_BUILD = ("built in", "[1/", "building")


def history(devbox: Devbox, project: Path) -> Any:
    return json.loads(devbox("history", "--json", cwd=project, check=True).stdout)


def packages(devbox: Devbox, project: Path) -> str:
    r = devbox("run", "--", "dpkg-query", "-W", "-f", "${Package}\\n", cwd=project, check=True)
    return r.stdout


def test_a_failed_build_leaves_the_box_and_rollback_goes_back_at_once(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project = make_project("history", ONE)
    devbox("build", cwd=project, check=True)
    (project / "devbox.toml").write_text(TWO)
    devbox("build", cwd=project, check=True)
    devbox("build", cwd=project, check=True)  # nothing changed: no generation
    session = devbox.popen(
        "run", "--", "sh", "-c", "read line; dpkg-query -W units",
        cwd=project, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(1)  # the session is in the box
        (project / "devbox.toml").write_text(BROKEN)
        failed = devbox("build", cwd=project)
        assert failed.returncode == 1 and "0.0-nope" in failed.stderr, failed
        doc = history(devbox, project)
        assert doc["current"] == 2
        assert [g["n"] for g in doc["generations"]] == [2, 1]
        lines = devbox("history", cwd=project, check=True).stdout.splitlines()
        assert re.match(r"\*   2  .* layers stored  added units \S+$", lines[0]), lines
        assert re.match(r"    1  .* layers stored  ", lines[1]), lines
        (project / "devbox.toml").write_text(TWO)  # the session's box is still generation 2
        out, err = session.communicate("go\n", timeout=60)
        assert session.returncode == 0 and out.startswith("units\t"), (out, err)
    finally:
        session.kill()
        session.wait()
    before = layer_dirs(devbox.store)
    r = devbox("rollback", cwd=project)
    assert r.returncode == 0, r
    took = float(re.findall(r"\((\d+\.\d)s\)", r.stdout)[0])
    assert "rolled back to generation 1" in r.stdout and "no layer built" in r.stdout, r.stdout
    assert took < 1.0 and not any(s in r.stderr for s in NO_BUILD), r
    assert layer_dirs(devbox.store) == before
    assert (project / "devbox.toml").read_text() == ONE
    time.sleep(2.5)  # the box of generation 2 (DEVBOX_LINGER=2) is gone
    got = packages(devbox, project).split()
    assert "bc" in got and "units" not in got
    doc = history(devbox, project)
    assert doc["current"] == 1 and len(doc["generations"]) == 2


def test_gc_keep(devbox: Devbox, make_project: MakeProject) -> None:
    # packages no other test asks for: no other project shares these layers
    project = make_project("keep", SPEC.format('["ed"]'))
    devbox("build", cwd=project, check=True)
    old: set[str] = set()
    for apt in ('["ed", "figlet"]', '["ed", "figlet", "dc"]'):
        old |= layer_dirs(devbox.store) & set(history(devbox, project)["generations"][0]["stack"])
        (project / "devbox.toml").write_text(SPEC.format(apt))
        devbox("build", cwd=project, check=True)
    gens = history(devbox, project)["generations"]
    assert len(gens) == 3
    current = set(gens[0]["stack"])
    old -= current
    assert len(old) == 2, "each older generation has its own apt layer"
    r = devbox("gc", "--keep", "3", cwd=project, check=True)
    assert old <= layer_dirs(devbox.store), r.stdout
    r = devbox("gc", "--keep", "1", cwd=project, check=True)
    assert not old & layer_dirs(devbox.store) and current <= layer_dirs(devbox.store)
    assert r.stdout.count(" apt ed") == 2, r.stdout
    assert len(history(devbox, project)["generations"]) == 1
    r = devbox("rollback", cwd=project)
    assert r.returncode == 1 and "the current one, is the oldest" in r.stderr, r


def test_bad_rollbacks_change_nothing(devbox: Devbox, make_project: MakeProject) -> None:
    project = make_project("bad rollback", ONE)
    r = devbox("rollback", cwd=project)
    assert r.returncode == 1 and "no build history yet" in r.stderr, r
    devbox("build", cwd=project, check=True)
    lock = (project / "devbox.lock").read_bytes()
    r = devbox("rollback", "99", cwd=project)
    assert r.returncode == 1 and "there is no generation 99" in r.stderr, r
    assert "Traceback" not in r.stderr
    elsewhere = make_project("the real spec", TWO)
    (project / "devbox.toml").unlink()
    (project / "devbox.toml").symlink_to(elsewhere / "devbox.toml")
    r = devbox("rollback", "1", cwd=project)
    assert r.returncode == 1 and "symbolic link" in r.stderr, r
    assert (project / "devbox.toml").is_symlink()
    assert (elsewhere / "devbox.toml").read_text() == TWO
    assert (project / "devbox.lock").read_bytes() == lock
