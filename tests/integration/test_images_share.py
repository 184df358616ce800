"""A pushed box started by other tools: the devcontainer.json of `devbox devcontainer` brought up
by the reference devcontainer CLI (@devcontainers/cli, with podman), and the Pod of `devbox kube`
run by `podman kube play`. The image comes from the test registry (tests/shared_box.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devbox.store.paths import Store
from tests.registry import Registry
from tests.shared_box import BOX, WORKDIR, Podman, podman_for, push_box

REPO = Path(__file__).resolve().parents[2]
DEVCONTAINER = REPO / ".venv/npm/node_modules/.bin/devcontainer"
NAME = "share/box:1"
SPEC = f'[box]\nname = "{BOX}"\nbase = "debian:bookworm"\n'


@dataclass
class Shared:
    reg: Registry
    podman: Podman
    digest: str

    @property
    def ref(self) -> str:
        return self.reg.ref(NAME)


@pytest.fixture(scope="session")
def shared(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    if os.geteuid() != 0:
        pytest.skip("building the box image needs root (mmdebstrap, podman)")
    tmp = tmp_path_factory.mktemp("share")
    podman = podman_for(registry, tmp)
    try:
        cache = tmp_path_factory.getbasetemp() / "image-cache"  # tests/images.py's tarball
        yield Shared(registry, podman, push_box(podman, registry, tmp / "ctx", cache, NAME))
    finally:
        podman.close()


@pytest.fixture
def project(tmp_path: Path, shared: Shared) -> Iterator[Path]:
    """A project whose box was pushed (pushed.json as `devbox push` leaves it), with a file in
    its working tree; podman's containers and pods go with it."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "devbox.toml").write_text(SPEC)
    (proj / "marker.txt").write_text("from the working tree\n")
    where = Store.default().project_dir(proj)
    where.mkdir(parents=True, exist_ok=True)
    pushed = {"ref": shared.ref, "digest": shared.digest, "time": int(time.time())}
    (where / "pushed.json").write_text(json.dumps(pushed))
    yield proj
    shared.podman.clean()


def devbox(shared: Shared, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(shared.podman.env, DEVBOX_HOME=os.environ["DEVBOX_HOME"])
    return subprocess.run([str(REPO / ".venv/bin/devbox"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)  # fmt: skip


# The devcontainer CLI asks podman for --userns=keep-id when the image's user is not root; podman
# 4.3 has that only rootless (as developers run it), so as root here it is left out.
PODMAN_AS_ROOT = """#!/bin/sh
for a; do shift; [ "$a" = --userns=keep-id ] || set -- "$@" "$a"; done
exec podman "$@"
"""


def dc(shared: Shared, *args: str) -> subprocess.CompletedProcess[str]:
    if not DEVCONTAINER.exists():
        pytest.fail("the devcontainer CLI is missing: scripts/setup.sh installs it")
    podman = shared.podman.home / "podman-as-root"
    if not podman.exists():
        podman.write_text(PODMAN_AS_ROOT)
        podman.chmod(0o755)
    verb, *rest = args  # the options before exec's command
    return subprocess.run([str(DEVCONTAINER), verb, "--docker-path", str(podman), *rest],
                          env=shared.podman.env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)  # fmt: skip


def test_the_devcontainer_cli_brings_the_pushed_box_up(shared: Shared, project: Path) -> None:
    r = devbox(shared, project, "devcontainer")
    assert r.returncode == 0, r.stderr
    doc = json.loads((project / ".devcontainer/devcontainer.json").read_text())
    name = shared.ref.rsplit(":", 1)[0]
    assert doc["image"] == f"{name}@{shared.digest}", "the pushed image, by digest"
    assert doc["workspaceFolder"] == WORKDIR and doc["remoteUser"] == "1000"
    assert doc["containerEnv"] == {"DEVBOX_BOX": BOX, "DEVBOX_PROJECT": WORKDIR}
    r = dc(shared, "up", "--workspace-folder", str(project))
    assert r.returncode == 0, r.stdout + r.stderr
    up = json.loads(r.stdout.strip().splitlines()[-1])
    assert up["outcome"] == "success", up
    r = dc(shared, "exec", "--workspace-folder", str(project), "xmllint", "--version")
    assert r.returncode == 0 and "using libxml version" in r.stderr, r.stdout + r.stderr
    script = 'echo "$(pwd) $(id -u) $DEVBOX_BOX"; cat marker.txt'
    r = dc(shared, "exec", "--workspace-folder", str(project), "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-2:] == [f"{WORKDIR} 1000 {BOX}", "from the working tree"]
    # again: devbox replaces its own file
    assert devbox(shared, project, "devcontainer").returncode == 0


def test_the_pod_runs_with_podman_kube_play(shared: Shared, project: Path) -> None:
    pod = project / "pod.yaml"
    r = devbox(shared, project, "kube", "-o", str(pod), "--", "sh", "-c",
               "xmllint --version; pwd; id -u; cat marker.txt")  # fmt: skip
    assert r.returncode == 0, r.stderr
    text = pod.read_text()
    assert f'"path": "{project}"' in text and '"runAsUser": 1000' in text
    p = shared.podman
    try:
        p("kube", "play", str(pod))
        container = f"{BOX}-box"
        assert p("wait", container).stdout.strip() == "0"
        logs = p("logs", container)
        assert "xmllint: using libxml version" in logs.stderr, logs.stderr
        assert logs.stdout.splitlines() == [WORKDIR, "1000", "from the working tree"]
    finally:
        p("kube", "down", str(pod), check=False)
    assert p("pod", "ps", "-q").stdout.strip() == ""


def test_bad_input_writes_nothing(shared: Shared, project: Path, tmp_path: Path) -> None:
    missing = shared.reg.ref("share/none:1")
    r = devbox(shared, project, "devcontainer", "--image", missing)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"devbox: error: reading {missing}: the registry has no such")
    assert not (project / ".devcontainer").exists()
    r = devbox(shared, project, "kube", "--image", missing, "-o", str(project / "pod.yaml"))
    assert r.returncode == 1 and not (project / "pod.yaml").exists()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (project / ".devcontainer").symlink_to(target)
    r = devbox(shared, project, "devcontainer")
    assert r.returncode == 1 and "is a symlink" in r.stderr.splitlines()[0], r.stderr
    assert list(target.iterdir()) == []
    (project / ".devcontainer").unlink()
    shutil.rmtree(Store.default().project_dir(project))
    for verb in ("devcontainer", "kube"):
        r = devbox(shared, project, verb)
        assert r.returncode == 1 and "has not been pushed" in r.stderr.splitlines()[0]
    assert not (project / ".devcontainer").exists()
