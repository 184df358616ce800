"""`devbox shell` driven through a real terminal with pexpect."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pexpect
import pytest

from tests.helpers import Devbox, MakeProject

pytestmark = pytest.mark.integration

SPEC = """\
[box]
name = "shelly"
base = "debian:bookworm"

[packages]
apt = ["zsh", "fish"]

[env]
SHELL_TEST = "in the box"
"""


def _overlay_warnings() -> list[str]:
    """overlayfs's warnings in the kernel log (it says "in-use" when an upper dir is mounted
    twice)."""
    r = subprocess.run(["dmesg"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot read the kernel log here: {r.stderr.strip()}")
    return [line for line in r.stdout.splitlines() if "overlayfs" in line and "in-use" in line]


def _spawn(devbox: Devbox, project: Path) -> pexpect.spawn[str]:
    argv = devbox.argv("shell")
    child = pexpect.spawn(
        argv[0], argv[1:], cwd=str(project), env=devbox.env({"TERM": "dumb"}),
        encoding="utf-8", timeout=120, dimensions=(40, 200),
    )  # fmt: skip
    return child


_count = iter(range(10**6))


def _marker(child: pexpect.spawn[str], command: str) -> str:
    """Run a command and return its output, recognised among terminal noise."""
    n = next(_count)
    child.sendline(f"echo BEGIN-{n}; {command}; echo END-{n}")
    child.expect(f"BEGIN-{n}\r?\n(.*?)END-{n}")
    assert isinstance(child.match, re.Match), child.match
    return child.match.group(1)


@pytest.fixture
def shelly(devbox: Devbox, make_project: MakeProject) -> Path:
    project: Path = make_project("shell project", SPEC)
    devbox("build", cwd=project, check=True)
    return project


def test_shell_prompt_env_and_exit_status(devbox: Devbox, shelly: Path) -> None:
    child = _spawn(devbox, shelly)
    child.expect(re.escape("⬢ shelly "))
    assert "in the box" in _marker(child, 'echo "$SHELL_TEST"')
    assert _marker(child, "pwd").strip() == str(shelly)
    child.sendline("exit 42")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 42


@pytest.mark.parametrize("program", ["zsh", "fish", "sh"])
def test_other_shells_mark_the_prompt(devbox: Devbox, shelly: Path, program: str) -> None:
    spec = shelly / "devbox.toml"
    spec.write_text(spec.read_text() + f'\n[shell]\nprogram = "{program}"\n')
    child = _spawn(devbox, shelly)
    child.expect(re.escape("⬢ shelly "))
    assert "in the box" in _marker(child, 'echo "$SHELL_TEST"')
    child.sendline("exit 3")
    child.expect(pexpect.EOF)
    child.close()
    if program != "sh":  # dash cannot hand the terminal back across the pid namespace
        assert child.exitstatus == 3


def test_a_run_joins_the_open_shell_and_mounts_nothing_twice(devbox: Devbox, shelly: Path) -> None:
    warnings_before = _overlay_warnings()
    child = _spawn(devbox, shelly)
    child.expect(re.escape("⬢ shelly "))
    assert "No such file" in _marker(child, "cat /etc/seen 2>&1")
    r = devbox("run", "--", "sh", "-c", "echo x > /etc/seen", cwd=shelly, check=True)
    assert r.returncode == 0
    assert _marker(child, "cat /etc/seen").strip() == "x"
    # the shell's own write is visible to a second run at once, too
    _marker(child, "echo from-shell > /etc/seen2")
    assert devbox("run", "--", "cat", "/etc/seen2", cwd=shelly).stdout == "from-shell\n"
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert _overlay_warnings() == warnings_before
    # the box went away with its last session; the next run starts it again and sees the writes
    assert devbox("run", "--", "cat", "/etc/seen", cwd=shelly).stdout == "x\n"
