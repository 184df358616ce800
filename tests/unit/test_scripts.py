"""The generated scripts (the launcher, shims, the box supervisor) against golden files.

The golden files are the scripts byte for byte, rendered with a fixed host (tools, user, CA
bundle, environment) for projects whose paths need quoting. After a deliberate change to a
script, regenerate them: DEVBOX_UPDATE_GOLDEN=1 pytest tests/unit/test_scripts.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import NoReturn

import pytest

from devbox.activation import launcher
from devbox.activation.shims import FastPath, shim_text
from devbox.sandbox import box as box_
from devbox.sandbox import boxenv, host, start, supervisor
from devbox.sandbox.box import Box
from devbox.sandbox.host import Tier
from devbox.spec.load import parse_spec
from devbox.store.paths import Store

GOLDEN = Path(__file__).with_name("golden")
UPDATE = bool(os.environ.get("DEVBOX_UPDATE_GOLDEN"))
PROJECT = Path("/nonexistent/golden/my 'project' $x")
STORE = Store(Path("/nonexistent/golden store"))
STACK = ("a" * 64, "b" * 64)
PYTHON = "/opt/py thon/bin/python3"
SPEC = """\
[box]
base = "debian:bookworm"
[setup]
run = ["true"]
inputs = ["setup.sh", "conf"]
"""


@pytest.fixture
def fixed_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that renders the same everywhere."""
    monkeypatch.setattr(host, "tool", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(host, "ca_bundle", lambda: "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setattr(box_, "user", lambda: ("alice", "/home/alice", "/bin/bash"))
    monkeypatch.setattr(start, "grp", SimpleNamespace(getgrgid=_no_group))
    for key in boxenv.PASS_THROUGH:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", "/home/alice")
    monkeypatch.setenv("DEVBOX_LINGER", "60")
    monkeypatch.setenv("DEVBOX_TIER", "3")
    monkeypatch.setenv("TERM", "xterm")


def _no_group(gid: int) -> NoReturn:
    raise KeyError(gid)


def _box(tier: Tier, extra: str = "") -> Box:
    spec = parse_spec(SPEC + extra, PROJECT / "devbox.toml")
    return Box(spec, STORE, STACK, tier)


def _launcher(tier: Tier, extra: str = "", watched: int = 3, real: str | None = None) -> str:
    """`real`: where the project's path really leads (through a symlink)."""
    box = _box(tier, extra)
    if real is not None:
        with pytest.MonkeyPatch.context() as mp:
            plain = os.path.realpath
            mp.setattr(os.path, "realpath", lambda p: real if p == str(PROJECT) else plain(p))
            return _launcher(tier, extra, watched)
    snap: launcher.Snapshot = {str(PROJECT / "devbox.toml"): 1700000000123456789}
    snap[str(PROJECT / "devbox.lock")] = None
    for i in range(watched - 2):
        snap[str(PROJECT / f"conf/file {i}")] = 1600000000000000000 + i
    stamps = str(box.paths.launcher_data / "18f-42")
    return launcher.render(box, snap, stamps, PYTHON, str(PROJECT / "devbox.toml"))


SUB = Tier(2, 1000, 1000, "alice", (100000, 65536), (100000, 65536))
LAUNCHERS: dict[str, Callable[[], str]] = {
    "launcher-tier1.sh": lambda: _launcher(Tier(1, 0, 0, "root")),
    "launcher-tier2.sh": lambda: _launcher(SUB, '[shell]\nworkdir = "/work space"\n'),
    "launcher-tier3.sh": lambda: _launcher(Tier(3, 1000, 1000, "alice"), '[env]\nA = "b c"\n'),
    "launcher-host-env.sh": lambda: _launcher(Tier(1, 0, 0, "root"), '[env]\nX = "${TERM}"\n'),
    "launcher-too-many.sh": lambda: _launcher(Tier(1, 0, 0, "root"), watched=1002),
    "launcher-symlinked.sh": lambda: _launcher(Tier(1, 0, 0, "root"), real="/nonexistent/r e"),
}
RUNNER = [PYTHON, "-P", "-m", "devbox", "_shim", str(PROJECT / "devbox.toml")]
FAST = FastPath(
    spec=str(PROJECT / "devbox.toml"),
    launcher=str(STORE.root / "projects/0123456789abcdef/launcher"),
    record="/home/alice/.local/state/devbox/trust/it's",
    verified_spec="/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/spec",
    verified_trust="/home/alice/.local/state/devbox/shims/0123456789abcdef/.verified/trust",
)
SHIMS: dict[str, Callable[[], str]] = {
    "shim-fast.sh": lambda: shim_text("python3", RUNNER, {"PYTHONPATH": None}, FAST),
    "shim-pythonpath.sh": lambda: shim_text("it's", RUNNER, {"PYTHONPATH": "/a b:'c'"}, FAST),
}
SUPERVISOR: dict[str, Callable[[], str]] = {
    "supervisor.sh": lambda: supervisor.supervisor_script(
        str(STORE.root / "projects/0123456789abcdef/run/supervisor.pid")
    ),
}
SCRIPTS = {**LAUNCHERS, **SHIMS, **SUPERVISOR}


@pytest.mark.usefixtures("fixed_host")
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_scripts_are_their_golden_files(name: str) -> None:
    text = SCRIPTS[name]()
    golden = GOLDEN / name
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.usefixtures("fixed_host")
def test_a_newline_in_the_project_path_stays_inside_quotes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory name is no way to run code on the host: no value goes into a comment."""
    pwned = tmp_path / "pwned"
    monkeypatch.setattr(sys.modules[__name__], "PROJECT", Path(f"/nonexistent/x\ntouch {pwned}"))
    for text in (_launcher(Tier(1, 0, 0, "root")), _launcher(Tier(1, 0, 0, "root"), watched=1002)):
        script = tmp_path / "launcher"
        script.write_text(text)
        subprocess.run(["sh", str(script)], capture_output=True, timeout=30)  # hands over: fails
        assert not pwned.exists()
