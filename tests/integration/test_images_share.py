"""A pushed box started by other tools: the session's built box (fixture `box`) sent with
`devbox push`, then the devcontainer.json of `devbox devcontainer` brought up by the reference
devcontainer CLI (@devcontainers/cli, with podman), and the Pod of `devbox kube` run by
`podman kube play`.

A devbox image runs as root (`User: root`, HOME=/root) with its `WorkingDir` where the project
is in the box: the project's path on this machine, as the box's spec sets no `[shell] workdir`
(docs/images.md). The working tree is mounted there, so the same path works in the container.

podman is set up the way the devcontainer CLI and `podman kube play` find it, through
CONTAINERS_CONF and CONTAINERS_STORAGE_CONF (runc, cgroupfs, storage of its own), and a HOME with
the registry's CA in certs.d and its login in ~/.docker/config.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devbox.store.paths import project_id
from tests.helpers import write_project
from tests.integration.conftest import Box
from tests.registry import Registry

REPO = Path(__file__).resolve().parents[2]
DEVCONTAINER = REPO / ".venv/npm/node_modules/.bin/devcontainer"
NAME = "share/box:1"
MARKER = "marker.txt"
CONTAINERS_CONF = """\
[containers]
netns = "host"
default_ulimits = ["nofile=1000:1000", "nproc=1000:1000"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
helper_binaries_dir = ["/usr/bin", "/usr/libexec/podman"]
"""
STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{root}"
runroot = "{runroot}"
"""


@dataclass
class Podman:
    env: dict[str, str]  # os.environ + CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, HOME
    runroot: Path

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)  # fmt: skip
        if check and r.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: {r.returncode} {r.stderr[-2000:]}")
        return r

    def clean(self) -> None:
        """Every container and pod gone (images stay: the next test reuses them)."""
        self("pod", "rm", "--all", "--force", check=False)
        self("rm", "--all", "--force", check=False)

    def close(self) -> None:
        self.clean()
        self("system", "reset", "--force", check=False)
        shutil.rmtree(self.runroot, ignore_errors=True)


def podman_for(reg: Registry, tmp: Path) -> Podman:
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    reg.trust(home)
    reg.login(home)
    # podman refuses a runroot path of over 50 characters
    runroot = Path(tempfile.mkdtemp(prefix="dbx-share-", dir="/tmp"))
    (tmp / "containers.conf").write_text(CONTAINERS_CONF)
    (tmp / "storage.conf").write_text(STORAGE_CONF.format(root=tmp / "root", runroot=runroot))
    env = dict(
        os.environ, HOME=str(home), CONTAINERS_CONF=str(tmp / "containers.conf"),
        CONTAINERS_STORAGE_CONF=str(tmp / "storage.conf"),
    )  # fmt: skip
    env.pop("XDG_RUNTIME_DIR", None)
    return Podman(env, runroot)


@dataclass
class Shared:
    box: Box
    podman: Podman
    ref: str  # as pushed: REPO:TAG
    digest: str  # the pushed manifest's digest

    @property
    def workdir(self) -> str:
        """The image's WorkingDir: the project's path (the spec sets no [shell] workdir)."""
        return str(self.box.project.resolve())


@pytest.fixture(scope="session")
def shared(box: Box, registry: Registry, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Shared]:  # fmt: skip
    ref = registry.ref(NAME)
    r = box("-q", "push", ref)
    assert r.returncode == 0, r.stderr
    state = box.devbox.store / "projects" / project_id(box.project.resolve()) / "pushed.json"
    pushed = json.loads(state.read_text())
    assert pushed["ref"] == ref
    podman = podman_for(registry, tmp_path_factory.mktemp("share"))
    try:
        yield Shared(box, podman, ref, pushed["digest"])
    finally:
        podman.close()


@pytest.fixture
def project(shared: Shared) -> Iterator[Path]:
    """The pushed box's project with a file in its working tree; what a test adds to it, and
    podman's containers and pods, go after it."""
    proj = shared.box.project
    (proj / MARKER).write_text("from the working tree\n")
    yield proj
    shared.podman.clean()
    (proj / MARKER).unlink()
    dot = proj / ".devcontainer"
    if dot.is_symlink():
        dot.unlink()
    elif dot.exists():
        shutil.rmtree(dot)


def dc(shared: Shared, *args: str) -> subprocess.CompletedProcess[str]:
    if not DEVCONTAINER.exists():
        pytest.fail("the devcontainer CLI is missing: scripts/setup.sh installs it")
    verb, *rest = args  # the options before exec's command
    return subprocess.run([str(DEVCONTAINER), verb, "--docker-path", "podman", *rest],
                          env=shared.podman.env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)  # fmt: skip


def test_the_devcontainer_cli_brings_the_pushed_box_up(shared: Shared, project: Path) -> None:
    r = shared.box("devcontainer")
    assert r.returncode == 0, r.stderr
    doc = json.loads((project / ".devcontainer/devcontainer.json").read_text())
    name = shared.ref.rsplit(":", 1)[0]
    assert doc["image"] == f"{name}@{shared.digest}", "the pushed image, by digest"
    assert doc["workspaceFolder"] == shared.workdir and doc["remoteUser"] == "root"
    assert doc["customizations"]["devbox"]["labels"]["dev.devbox.box"] == "exported"
    r = dc(shared, "up", "--workspace-folder", str(project))
    assert r.returncode == 0, r.stdout + r.stderr
    up = json.loads(r.stdout.strip().splitlines()[-1])
    assert up["outcome"] == "success", up
    r = dc(shared, "exec", "--workspace-folder", str(project), "xmllint", "--version")
    assert r.returncode == 0 and "using libxml version" in r.stderr, r.stdout + r.stderr
    script = f'echo "$(pwd) $(id -u) $HOME $DEVBOX_BOX $GREETING"; cat {MARKER}'
    r = dc(shared, "exec", "--workspace-folder", str(project), "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-2:] == [
        f"{shared.workdir} 0 /root exported hello from the box",
        "from the working tree",
    ]
    # again: devbox replaces its own file
    assert shared.box("devcontainer").returncode == 0


def test_the_pod_runs_with_podman_kube_play(shared: Shared, project: Path, tmp_path: Path
                                            ) -> None:  # fmt: skip
    pod = tmp_path / "pod.yaml"
    r = shared.box("kube", "-o", str(pod), "--", "sh", "-c",
                   f"xmllint --version; pwd; id -u; cat {MARKER}")  # fmt: skip
    assert r.returncode == 0, r.stderr
    text = pod.read_text()
    assert f'"path": "{project.resolve()}"' in text and '"runAsUser": 0' in text
    p = shared.podman
    try:
        p("kube", "play", str(pod))
        container = "exported-box"
        assert p("wait", container).stdout.strip() == "0"
        logs = p("logs", container)
        assert "xmllint: using libxml version" in logs.stderr, logs.stderr
        assert logs.stdout.splitlines() == [shared.workdir, "0", "from the working tree"]
    finally:
        p("kube", "down", str(pod), check=False)
    assert p("pod", "ps", "-q").stdout.strip() == ""


def test_bad_input_writes_nothing(shared: Shared, project: Path, tmp_path: Path) -> None:
    missing_ref = shared.ref.replace("share/box:1", "share/none:1")
    r = shared.box("devcontainer", "--image", missing_ref)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"devbox: error: reading {missing_ref}: the registry has no such")
    assert not (project / ".devcontainer").exists()
    r = shared.box("kube", "--image", missing_ref, "-o", str(tmp_path / "pod.yaml"))
    assert r.returncode == 1 and not (tmp_path / "pod.yaml").exists()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (project / ".devcontainer").symlink_to(target)
    r = shared.box("devcontainer")
    assert r.returncode == 1 and "is a symlink" in r.stderr.splitlines()[0], r.stderr
    assert list(target.iterdir()) == []
    # a project never pushed from this machine: no image to name
    never = write_project(tmp_path / "never", '[box]\nname = "never"\nbase = "debian:bookworm"\n')
    for verb in ("devcontainer", "kube"):
        r = shared.box.devbox(verb, cwd=never, env={"HOME": str(shared.box.home)})
        assert r.returncode == 1 and "has not been pushed" in r.stderr.splitlines()[0], r.stderr
    assert not (never / ".devcontainer").exists()
