"""Shims skip Python through the project's launcher while the spec and its trust are exactly as
devbox last checked them, and fall back to the Python path (which checks trust) otherwise."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devbox.activation import shims
from devbox.spec import load as spec
from tests.helpers import Devbox, MakeProject

pytestmark = pytest.mark.integration

SPEC = """\
[box]
name = "shimfast"
base = "debian:bookworm"

[shell]
expose = ["cat"]
"""


def _shim(devbox: Devbox, project: Path, runner: list[str], tmp: Path) -> Path:
    """A shim for `cat` whose slow path is `runner` (as write_shims makes it, but testable)."""
    s = spec.load_spec(project / "devbox.toml")
    real = shims.write_shims(s)  # the real shim directory: its .verified stamps are used
    text = shims.shim_text("cat", runner, {}, shims.fast_path(s, real))
    path = tmp / "cat-shim"
    path.write_text(text)
    path.chmod(0o755)
    return path


def _run(devbox: Devbox, shim: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in devbox.env().items() if k != "DEVBOX_HOME"}
    return subprocess.run([str(shim), "/etc/debian_version"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_a_trusted_unchanged_spec_runs_through_the_launcher_only(
    devbox: Devbox, make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVBOX_HOME", str(devbox.store))
    project: Path = make_project("shim fast", SPEC)
    devbox("allow", cwd=project, check=True)
    real = shims.write_shims(spec.load_spec(project / "devbox.toml"))
    # first call: the Python path checks trust, builds, writes the launcher and the stamps
    r = subprocess.run([str(real / "cat"), "/etc/debian_version"], cwd=project,
                       env=devbox.env(), capture_output=True, text=True, timeout=900)  # fmt: skip
    assert r.returncode == 0 and r.stdout.startswith("12."), r.stderr
    # a shim whose Python path cannot run at all: it works only if the launcher does the job
    broken = _shim(devbox, project, ["/nonexistent/python"], tmp_path)
    r = _run(devbox, broken, project)
    assert (r.returncode, r.stdout[:3]) == (0, "12."), r.stderr
    # the spec edited: no launcher until devbox has looked at the trust again
    with open(project / "devbox.toml", "a") as f:
        f.write("# edited\n")
    r = _run(devbox, broken, project)
    assert r.returncode == 127 and "/nonexistent/python" in r.stderr
    # ... and devbox refuses the edited spec (the real shim, Python path)
    r = subprocess.run([str(real / "cat"), "/etc/debian_version"], cwd=project,
                       env=devbox.env(), capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 1 and "devbox allow" in r.stderr and not r.stdout
    # allowed again: the Python path re-stamps, then the launcher serves the shim again
    devbox("allow", cwd=project, check=True)
    r = subprocess.run([str(real / "cat"), "/etc/debian_version"], cwd=project,
                       env=devbox.env(), capture_output=True, text=True, timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert _run(devbox, broken, project).returncode == 0
    # denied: straight to the Python path, which refuses
    devbox("deny", cwd=project, check=True)
    assert _run(devbox, broken, project).returncode == 127


def test_a_launcher_handing_over_for_a_shim_checks_trust(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project: Path = make_project("shim handover", SPEC)
    devbox("run", "--", "true", cwd=project, check=True)  # a launcher, written without trust
    spec_path = str(project / "devbox.toml")  # as a shim sets it, and a launcher hands over
    env = {"DEVBOX_SHIM_SPEC": spec_path, "DEVBOX_LAUNCHER_SPEC": spec_path}
    r = devbox("run", "--", "true", cwd=project, env=env)
    assert r.returncode == 1 and "devbox allow" in r.stderr
    devbox("allow", cwd=project, check=True)
    r = devbox("run", "--", "cat", "/etc/debian_version", cwd=project, env=env)
    assert r.returncode == 0 and r.stdout.startswith("12."), r.stderr
