"""A store's life: two projects built at once on a fresh store share one base; gc after one of
them is deleted frees its layers and keeps the other's, which still runs without a rebuild.
Real mmdebstrap, apt and bwrap (tier 1, root)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from devbox.sandbox import sessions
from devbox.store.paths import ProjectPaths, project_id
from tests.helpers import (
    Devbox,
    MakeProject,
    layer_dirs,
    need_root_tools,
    wait_for_temp_layer,
    write_project,
)

pytestmark = pytest.mark.integration

ALPHA = '[box]\nname = "alpha"\nbase = "debian:bookworm"\n[packages]\napt = ["jq"]\n'
BETA = '[box]\nname = "beta"\nbase = "debian:bookworm"\n[setup]\nrun = ["echo beta > /etc/beta"]\n'


@dataclass
class Pair:
    store: Devbox
    alpha: Path
    beta: Path
    results: dict[str, tuple[int, str]]  # name -> (exit status, stderr)

    def stack(self, project: Path) -> list[str]:
        info = self.store.store / "projects" / project_id(project) / "project.json"
        stack: list[str] = json.loads(info.read_text())["stack"]
        return stack


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """alpha and beta, built at the same moment on a new, empty store."""
    need_root_tools()
    root = tmp_path_factory.mktemp("lifecycle")
    fresh = Devbox(root / "fresh store")
    alpha = write_project(root / "alpha", ALPHA)
    beta = write_project(root / "beta", BETA)
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "start_new_session": True}
    procs = {
        name: fresh.popen("build", cwd=project, **pipes)
        for name, project in (("alpha", alpha), ("beta", beta))
    }
    results = {}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=900)
        results[name] = (proc.returncode, err)
    return Pair(fresh, alpha, beta, results)


def test_concurrent_builds_on_a_fresh_store_share_one_base(pair: Pair) -> None:
    for name, (status, err) in pair.results.items():
        assert status == 0, f"{name}:\n{err}"
        assert "Traceback" not in err
    base = pair.stack(pair.alpha)[0]
    assert pair.stack(pair.beta)[0] == base
    assert layer_dirs(pair.store.store) == {*pair.stack(pair.alpha), *pair.stack(pair.beta)}
    assert len(layer_dirs(pair.store.store)) == 3  # one base, alpha's apt, beta's setup

    # One of them bootstrapped the base; the other waited for it and took it.
    errs = [err for _, err in pair.results.values()]
    built = [e for e in errs if "[1/2] base debian:bookworm: built in" in e]
    waited = [e for e in errs if "[1/2] base debian:bookworm: built by another devbox" in e]
    assert len(built) == 1 and len(waited) == 1, errs
    assert "waiting for another build of this layer" in waited[0]
    logs = list((pair.store.store / "logs").iterdir())
    assert len([log for log in logs if "mmdebstrap" in log.read_text()]) == 1

    jq = pair.store("run", "--", "jq", "--version", cwd=pair.alpha)
    assert jq.returncode == 0 and jq.stdout.startswith("jq-"), jq
    beta = pair.store("run", "--", "cat", "/etc/beta", cwd=pair.beta)
    assert beta.returncode == 0 and beta.stdout == "beta\n", beta


def _identity(store: Path, digest: str) -> tuple[int, int, int]:
    """Changes if the layer is built again (a new directory is renamed in)."""
    layer = store / "layers" / digest
    meta = (layer / "meta.json").stat()
    return (layer.stat().st_ino, meta.st_ino, meta.st_mtime_ns)


def test_gc_after_deleting_a_project_frees_its_layers_and_keeps_the_others(pair: Pair) -> None:
    store = pair.store.store
    alpha_stack, beta_stack = pair.stack(pair.alpha), pair.stack(pair.beta)
    alpha_only = set(alpha_stack) - set(beta_stack)
    assert len(alpha_only) == 1  # its apt layer; the base is shared
    before = {d: _identity(store, d) for d in beta_stack}
    # alpha's box is up (idle, lingering) when its project goes: gc stops it, then frees it
    up = pair.store("run", "--", "true", cwd=pair.alpha, env={"DEVBOX_LINGER": "600"})
    assert up.returncode == 0, up.stderr
    alpha_paths = ProjectPaths(store / "projects" / project_id(pair.alpha))
    supervisor = sessions.supervisor_pid(alpha_paths)
    assert supervisor is not None

    shutil.rmtree(pair.alpha)
    r = pair.store("gc", cwd=store.parent)
    assert sessions.supervisor_pid(alpha_paths) is None
    assert (
        not Path(f"/proc/{supervisor}/cmdline").exists()
        or not Path(f"/proc/{supervisor}/cmdline").read_bytes()
    ), "the supervisor is gone (a zombie at most)"
    assert r.returncode == 0, r.stderr
    (apt,) = alpha_only
    assert f"layer {apt[:12]} apt jq" in r.stdout, r.stdout
    assert f"project alpha ({pair.alpha})" in r.stdout
    assert all(d[:12] not in r.stdout for d in beta_stack), r.stdout
    assert r.stdout.splitlines()[-1].startswith("freed ")
    assert layer_dirs(store) == set(beta_stack)
    assert not (store / "projects" / project_id(pair.alpha)).exists()

    run = pair.store("run", "--", "cat", "/etc/beta", cwd=pair.beta)
    assert run.returncode == 0 and run.stdout == "beta\n", run
    assert "building" not in run.stderr and "built in" not in run.stderr, run.stderr
    assert {d: _identity(store, d) for d in beta_stack} == before
    assert os.path.isdir(store / "cache" / "apt"), "the apt cache beta uses is kept"


def test_gc_during_a_build_keeps_what_the_build_uses(
    devbox: Devbox, make_project: MakeProject
) -> None:
    # `tree`'s layer is in the store but no live project uses it (its project is gone) ...
    gone = make_project("gone", '[box]\nbase = "debian:bookworm"\n[packages]\napt = ["tree"]\n')
    devbox("build", cwd=gone, check=True)
    shutil.rmtree(gone)
    # ... until a build stacks a slow setup step on it: gc must wait and keep it.
    spec = '[box]\nbase = "debian:bookworm"\n[packages]\napt = ["tree"]\n'
    spec += '[setup]\nrun = ["sleep 8; echo done > /etc/done"]\n'
    project = make_project("gc during build", spec)
    build = devbox.popen(
        "build", cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    wait_for_temp_layer(devbox.store, build)
    gc = devbox("gc", cwd=project)
    _, err = build.communicate(timeout=300)
    assert build.returncode == 0, err
    assert gc.returncode == 0, gc.stderr
    assert "apt tree" not in gc.stdout, gc.stdout
    r = devbox("run", "--", "sh", "-c", "tree --version && cat /etc/done", cwd=project)
    assert r.returncode == 0 and r.stdout.endswith("done\n"), r
    assert "building" not in r.stderr
