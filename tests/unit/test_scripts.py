"""The generated scripts (the launcher, shims, the box supervisor) against golden files, and
through real shellcheck (rendered, and as template files).

The golden files are the scripts byte for byte, rendered with a fixed host (tools, user, CA
bundle, environment) for projects whose paths need quoting. After a deliberate change to a
script, regenerate them: DEVBOX_UPDATE_GOLDEN=1 pytest tests/unit/test_scripts.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import NoReturn

import pytest

from devbox import resources, template
from devbox.activation import launcher, shims
from devbox.activation.shims import SHIM_ENV, FastPath, shim_text
from devbox.fastpath import HANDOVER_ENV
from devbox.sandbox import box as box_
from devbox.sandbox import boxenv, cgroups, enter, host, network, start, supervisor
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
    monkeypatch.setattr(network, "stack", lambda: "/usr/bin/slirp4netns")
    monkeypatch.setattr(network, "python", lambda: PYTHON)
    monkeypatch.setattr(network, "HOSTFWD", "/opt/devbox/sandbox/hostfwd.py")
    monkeypatch.setattr(host, "ca_bundle", lambda: "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setattr(box_, "user", lambda: ("alice", "/home/alice", "/bin/bash"))
    monkeypatch.setattr(enter, "terminal_signals", lambda box: True)
    monkeypatch.setattr(start, "grp", SimpleNamespace(getgrgid=_no_group))
    for key in (*boxenv.PASS_THROUGH, "DEVBOX_HOST_CA"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("HOME", "/home/alice")
    monkeypatch.setenv("DEVBOX_LINGER", "60")
    monkeypatch.setenv("DEVBOX_TIER", "3")
    monkeypatch.setenv("TERM", "xterm")


def _no_group(gid: int) -> NoReturn:
    raise KeyError(gid)


def _box(tier: Tier, extra: str = "") -> Box:
    """`extra`: more tables (a leading `[box]` table's keys join SPEC's [box])."""
    text = SPEC + extra
    if extra.startswith("[box]\n"):
        keys = extra.removeprefix("[box]\n")
        text = SPEC.replace("[setup]\n", keys + "[setup]\n", 1)
    spec = parse_spec(text, PROJECT / "devbox.toml")
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


LIMITS_SPEC = '[limits]\nmemory = "256M"\npids = 64\ncpus = 1.5\nstrict = false\n'


def _limited(tier: Tier, *, cgroup: bool) -> str:
    """A box with [limits] held by cgroup v1 (as root), or by rlimits (cpus not at all)."""

    def places(level: int, uid: int, key: str, wanted: dict[str, float]) -> list[cgroups.Place]:
        found = []
        for c in wanted if cgroup else ():
            base = f"/sys/fs/cgroup/{c}/user's"
            settings = tuple(cgroups.settings_for(1, c, wanted[c]))
            found.append(cgroups.Place(1, base, f"{base}/devbox/{key}", (c,), settings))
        return found

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cgroups, "places", places)
        return _launcher(tier, LIMITS_SPEC)


SCRIPTS_SPEC = """\
[env]
files = [".env"]
[scripts]
test = "pytest -x"
"db:up" = "echo \\"$1\\" '$x'"
fmt = ["black", "a b"]
"""
SHARE_SPEC = """\
[share]
display = true
audio = true
ssh_agent = true
binds = [{ host = "/etc", box = "/host etc" }]
"""
SESSION = {"DISPLAY": ":0", "XDG_RUNTIME_DIR": "/run/user/1000", "SSH_AUTH_SOCK": "/tmp/a b/s"}


def _share_launcher() -> str:
    """A box sharing the host's session: its binds and variables, and the launcher's tests of
    the variables they came from and of the bind's host path."""
    with pytest.MonkeyPatch.context() as mp:
        for key in ("WAYLAND_DISPLAY", "XAUTHORITY", "PULSE_SERVER", "PIPEWIRE_RUNTIME_DIR"):
            mp.delenv(key, raising=False)
        for key, value in SESSION.items():
            mp.setenv(key, value)
        return _launcher(Tier(1, 0, 0, "root"), SHARE_SPEC)


PRIVATE = '[box]\nnetwork = "private"\nports = ["8000:8000", "127.0.0.1:9000:90"]\n'
SUB = Tier(2, 1000, 1000, "alice", (100000, 65536), (100000, 65536))
LAUNCHERS: dict[str, Callable[[], str]] = {
    "launcher-tier1.sh": lambda: _launcher(Tier(1, 0, 0, "root")),
    "launcher-tier2.sh": lambda: _launcher(SUB, '[shell]\nworkdir = "/work space"\n'),
    "launcher-tier3.sh": lambda: _launcher(Tier(3, 1000, 1000, "alice"), '[env]\nA = "b c"\n'),
    "launcher-host-env.sh": lambda: _launcher(Tier(1, 0, 0, "root"), '[env]\nX = "${TERM}"\n'),
    "launcher-too-many.sh": lambda: _launcher(Tier(1, 0, 0, "root"), watched=1002),
    "launcher-symlinked.sh": lambda: _launcher(Tier(1, 0, 0, "root"), real="/nonexistent/r e"),
    "launcher-scripts.sh": lambda: _launcher(Tier(1, 0, 0, "root"), SCRIPTS_SPEC),
    "launcher-share.sh": _share_launcher,
    "launcher-limits-cgroup.sh": lambda: _limited(Tier(1, 0, 0, "root"), cgroup=True),
    "launcher-limits-rlimit.sh": lambda: _limited(Tier(3, 1000, 1000, "alice"), cgroup=False),
    "launcher-network-none.sh": lambda: _launcher(SUB, '[box]\nnetwork = "none"\n'),
    "launcher-network-private.sh": lambda: _launcher(Tier(1, 0, 0, "root"), PRIVATE),
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
SUDO: dict[str, Callable[[], str]] = {"sudo.sh": lambda: box_.SUDO.decode()}
SCRIPTS = {**LAUNCHERS, **SHIMS, **SUPERVISOR, **SUDO}


@pytest.mark.usefixtures("fixed_host")
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_scripts_are_their_golden_files(name: str) -> None:
    text = SCRIPTS[name]()
    golden = GOLDEN / name
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


def shellcheck(*args: str) -> subprocess.CompletedProcess[str]:
    if not shutil.which("shellcheck"):
        pytest.skip("no shellcheck here (apt-get install shellcheck)")
    return subprocess.run(["shellcheck", "-S", "warning", *args], capture_output=True, text=True)


@pytest.mark.usefixtures("fixed_host")
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_rendered_scripts_pass_shellcheck(name: str, tmp_path: Path) -> None:
    script = tmp_path / name
    script.write_text(SCRIPTS[name]())
    r = shellcheck("--shell=sh", str(script))  # the supervisor's script has no #! (sh -c)
    assert r.returncode == 0, r.stdout + r.stderr


TEMPLATES = sorted(p.relative_to(resources.PACKAGE) for p in resources.PACKAGE.rglob("*.sh.in"))


@pytest.mark.parametrize("rel", TEMPLATES, ids=str)
def test_template_files_pass_shellcheck(rel: Path) -> None:
    """As files, placeholders and all; but launcher.sh.in, whose `case $PWD` arms are one
    placeholder (a line of its own, as no case arm can be), is checked rendered only."""
    if rel == Path("activation/launcher.sh.in"):
        pytest.skip("checked rendered (test_rendered_scripts_pass_shellcheck)")
    r = shellcheck(str(resources.PACKAGE / rel))
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_templates_are_the_ones_shipped_and_watched() -> None:
    assert [str(p) for p in TEMPLATES] == [
        "activation/launcher-handover.sh.in",
        "activation/launcher.sh.in",
        "activation/shim.sh.in",
        "completion-bash.sh.in",
        "sandbox/network.sh.in",
        "sandbox/sudo.sh.in",
        "sandbox/supervisor.sh.in",
    ]
    watched = resources.made_of(*launcher.SHAPED_BY)  # the templates its modules load
    assert [str(p) for p in TEMPLATES if str(resources.PACKAGE / p) in watched] == [
        "activation/launcher-handover.sh.in",
        "activation/launcher.sh.in",
        "sandbox/network.sh.in",
        "sandbox/sudo.sh.in",
        "sandbox/supervisor.sh.in",
    ]


def test_both_launcher_templates_hand_over_alike() -> None:
    def handover(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("handover() ")]

    assert handover(launcher.TEMPLATE) == handover(launcher.HANDOVER_TEMPLATE) != []
    assert f" {HANDOVER_ENV}=@SPEC@ " in handover(launcher.TEMPLATE)[0]
    assert f"export {SHIM_ENV}=@SPEC@\n" in shims.TEMPLATE


def test_fill_quotes_every_value_but_code_and_names_every_placeholder() -> None:
    assert template.fill(
        "a=@A@ b=@B@ @C@", {"A": "x y", "B": "it's", "C": template.Code("$z")}
    ) == ("a='x y' b='it'\"'\"'s' $z")
    with pytest.raises(ValueError, match=r"without a value: \['B'\]"):
        template.fill("@A@ @B@", {"A": "x"})
    with pytest.raises(ValueError, match=r"without a placeholder: \['C'\]"):
        template.fill("@A@", {"A": "x", "C": "y"})
    assert template.fill('"$@" @A@', {"A": "1"}, quote=lambda v: f"<{v}>") == '"$@" <1>'


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
