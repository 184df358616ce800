"""A box from a spec, end to end: the real mmdebstrap, apt, overlayfs and bwrap (tier 1, root)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Devbox, MakeProject, layer_dirs

pytestmark = pytest.mark.integration

HELLO = """\
[box]
name = "hello"
base = "debian:bookworm"

[packages]
apt = ["libxml2-utils"]

[env]
GREETING = "hello from the box"
PATH = "${DEVBOX_PROJECT}/bin:${PATH}"

[setup]
run = ["cat seed.txt > /etc/seeded", "xmllint --version 2>&1 | head -n1 > /etc/xmllint-version"]
inputs = ["seed.txt"]
"""


def _meta(store: Path, digest: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((store / "layers" / digest / "meta.json").read_text())
    return data


@pytest.fixture
def hello(devbox: Devbox, make_project: MakeProject) -> Path:
    project: Path = make_project("hello world ü", HELLO, {"seed.txt": "seed-1\n"})
    devbox("build", cwd=project, check=True)
    return project


def test_build_then_run_xmllint_env_and_setup(devbox: Devbox, hello: Path) -> None:
    r = devbox("run", "--", "xmllint", "--version", cwd=hello, check=True)
    assert "using libxml version" in r.stdout + r.stderr
    r = devbox(
        "run", "--", "sh", "-c",
        'echo "$GREETING"; cat /etc/seeded /etc/debian_version; echo "$PATH"',
        cwd=hello, check=True,
    )  # fmt: skip
    greeting, seeded, debian, path = r.stdout.splitlines()
    assert greeting == "hello from the box"
    assert seeded == "seed-1"
    assert debian.startswith("12.")
    assert path.startswith(f"{hello}/bin:/usr/local/sbin")
    lock = (hello / "devbox.lock").read_text()
    assert 'suite = "bookworm"' in lock
    assert '"libxml2-utils" = ' in lock
    assert '[base.packages]\n"adduser" = ' in lock


def test_exit_status_and_stdio_pass_through(devbox: Devbox, hello: Path) -> None:
    assert devbox("run", "--", "sh", "-c", "exit 7", cwd=hello).returncode == 7
    r = devbox("run", "--", "sh", "-c", "tr a-z A-Z; echo oops >&2", cwd=hello, input="piped in\n")
    assert r.returncode == 0
    assert r.stdout == "PIPED IN\n"
    assert r.stderr == "oops\n"


def test_working_tree_is_mounted_and_files_belong_to_the_user(devbox: Devbox, hello: Path) -> None:
    sub = hello / "sub dir"
    sub.mkdir()
    r = devbox("run", "--", "sh", "-c", "pwd; echo made > made.txt", cwd=sub, check=True)
    assert r.stdout.strip() == str(sub)
    made = sub / "made.txt"
    assert made.read_text() == "made\n"
    assert made.stat().st_uid == os.getuid()
    assert made.stat().st_gid == os.getgid()


def test_writes_outside_the_tree_persist_until_reset(devbox: Devbox, hello: Path) -> None:
    marker = "/etc/devbox-test-marker"
    assert not Path(marker).exists()
    devbox("run", "--", "sh", "-c", f"echo kept > {marker}", cwd=hello, check=True)
    assert not Path(marker).exists(), "a write in the box reached the host"
    assert devbox("run", "--", "cat", marker, cwd=hello, check=True).stdout == "kept\n"
    r = devbox("reset", cwd=hello, check=True)
    assert "reset" in r.stderr
    r = devbox("run", "--", "cat", marker, cwd=hello)
    assert r.returncode == 1
    assert "No such file" in r.stderr


def test_private_tmp_and_isolated_home_that_survives(devbox: Devbox, hello: Path) -> None:
    host_tmp = Path("/tmp/devbox-test-private-tmp")
    devbox("run", "--", "sh", "-c", f"touch {host_tmp} ~/kept-home", cwd=hello, check=True)
    assert not host_tmp.exists()
    assert not (Path.home() / "kept-home").exists()
    r = devbox("run", "--", "sh", "-c", "ls ~/kept-home; ls -A ~", cwd=hello, check=True)
    assert "kept-home" in r.stdout
    assert ".bashrc" in r.stdout, "the isolated home is seeded from /etc/skel"


def test_second_build_does_nothing_and_env_edits_rebuild_nothing(
    devbox: Devbox, hello: Path
) -> None:
    before = layer_dirs(devbox.store)
    r = devbox("build", cwd=hello, check=True)
    assert r.stderr.count(": cached") == 3, r.stderr
    spec = hello / "devbox.toml"
    spec.write_text(spec.read_text().replace("hello from the box", "edited"))
    r = devbox("build", cwd=hello, check=True)
    assert r.stderr.count(": cached") == 3, r.stderr
    assert layer_dirs(devbox.store) == before
    r = devbox("run", "--", "sh", "-c", 'echo "$GREETING"', cwd=hello, check=True)
    assert r.stdout == "edited\n"


def test_adding_a_package_rebuilds_only_layers_above_the_base(devbox: Devbox, hello: Path) -> None:
    spec = hello / "devbox.toml"
    spec.write_text(spec.read_text().replace('["libxml2-utils"]', '["libxml2-utils", "jq"]'))
    r = devbox("build", cwd=hello, check=True)
    lines = r.stderr.splitlines()
    assert any(line.startswith("[1/3] base debian:bookworm: cached") for line in lines), r.stderr
    assert any(line.startswith("[2/3] apt ") and "built in" in line for line in lines), r.stderr
    assert any(line.startswith("[3/3] setup") and "built in" in line for line in lines), r.stderr
    assert devbox("run", "--", "jq", "--version", cwd=hello).returncode == 0


def test_setup_inputs_are_part_of_the_cache_key(devbox: Devbox, hello: Path) -> None:
    (hello / "seed.txt").write_text("seed-2\n")
    r = devbox("build", cwd=hello, check=True)
    assert r.stderr.count(": cached") == 2, r.stderr
    assert devbox("run", "--", "cat", "/etc/seeded", cwd=hello).stdout == "seed-2\n"


def test_two_projects_share_the_base_layer(devbox: Devbox, make_project: MakeProject) -> None:
    spec = '[box]\nbase = "debian:bookworm"\n[packages]\napt = ["{pkg}"]\n'
    a = make_project("a", spec.format(pkg="file"))
    b = make_project("b", spec.format(pkg="less"))
    devbox("build", cwd=a, check=True)
    devbox("build", cwd=b, check=True)
    bases = [
        d for d in layer_dirs(devbox.store)
        if not d.startswith(".") and _meta(devbox.store, d)["kind"] == "debian"
        and _meta(devbox.store, d)["recipe"]["suite"] == "bookworm"
    ]  # fmt: skip
    assert len(bases) == 1
    parents = set()
    for d in layer_dirs(devbox.store):
        if not d.startswith(".") and _meta(devbox.store, d)["kind"] == "apt":
            parents.add(_meta(devbox.store, d)["parent"])
    assert parents == set(bases)


def test_concurrent_builds_of_one_layer_build_it_once(
    devbox: Devbox, make_project: MakeProject
) -> None:
    spec = '[box]\nbase = "debian:bookworm"\n[packages]\napt = ["tree"]\n'
    a = make_project("one", spec)
    b = make_project("two", spec)
    before = layer_dirs(devbox.store)
    pa = devbox.popen("build", cwd=a, stderr=-1, stdout=-1)
    pb = devbox.popen("build", cwd=b, stderr=-1, stdout=-1)
    out_a, out_b = pa.communicate(timeout=600), pb.communicate(timeout=600)
    assert pa.returncode == 0 and pb.returncode == 0, (out_a, out_b)
    new = layer_dirs(devbox.store) - before
    assert len(new) == 1, new
    both = out_a[1] + out_b[1]
    assert both.count("built in") == 1, both
    for p in (a, b):
        assert devbox("run", "--", "tree", "--version", cwd=p).returncode == 0


def test_a_failed_build_leaves_the_store_as_it_was(
    devbox: Devbox, make_project: MakeProject
) -> None:
    spec = '[box]\nbase = "debian:bookworm"\n[setup]\nrun = ["echo about to fail", "exit 3"]\n'
    p = make_project("fails", spec)
    devbox("build", cwd=p, check=False)  # base may be shared; make sure it exists
    before = layer_dirs(devbox.store)
    r = devbox("build", cwd=p)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "setup" in r.stderr and "exit status 3" in r.stderr
    assert "full log: " in r.stderr
    log = Path(r.stderr.split("full log: ")[1].split()[0])
    assert "about to fail" in log.read_text()
    assert layer_dirs(devbox.store) == before
    assert not (p / "devbox.lock").exists()


def test_custom_workdir_and_host_home(
    devbox: Devbox, make_project: MakeProject, tmp_path: Path
) -> None:
    spec = (
        '[box]\nbase = "debian:bookworm"\n'
        '[shell]\nworkdir = "/workspace"\nhome = "host"\n'
        '[env]\nWHERE = "${DEVBOX_PROJECT}"\n'
    )
    project = make_project("custom workdir", spec)
    (project / "sub").mkdir()
    home = tmp_path / "a home"
    home.mkdir()
    (home / "from-host").write_text("host file\n")
    script = 'pwd; echo "$WHERE"; cat ~/from-host; echo hi > ~/from-box; ls /workspace'
    r = devbox(
        "run", "--", "sh", "-c", script, cwd=project / "sub", env={"HOME": str(home)}, check=True
    )
    assert r.stdout.splitlines() == [
        "/workspace/sub",
        "/workspace",
        "host file",
        "devbox.lock",
        "devbox.toml",
        "sub",
    ]
    assert (home / "from-box").read_text() == "hi\n"
