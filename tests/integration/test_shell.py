"""`devbox shell` driven through a real terminal with pexpect."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pexpect
import pytest

from tests.helpers import Devbox, MakeProject
from tests.terminal import Terminal, box_prompt

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


def _spawn(devbox: Devbox, project: Path) -> Terminal:
    argv = devbox.argv("shell")
    child = pexpect.spawn(
        argv[0], argv[1:], cwd=str(project), env=devbox.env({"TERM": "dumb"}),
        encoding="utf-8", timeout=120, dimensions=(40, 200),
    )  # fmt: skip
    return Terminal(child, prompt=box_prompt("shelly"))


@pytest.fixture
def shelly(devbox: Devbox, make_project: MakeProject) -> Path:
    project: Path = make_project("shell project", SPEC)
    devbox("build", cwd=project, check=True)
    return project


def test_shell_prompt_env_and_exit_status(devbox: Devbox, shelly: Path) -> None:
    term = _spawn(devbox, shelly)
    child = term.child
    assert "in the box" in term.run('echo "$SHELL_TEST"')
    assert term.run("pwd").strip() == str(shelly)
    term.sendline("exit 42")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 42


@pytest.mark.parametrize("program", ["zsh", "fish", "sh"])
def test_other_shells_mark_the_prompt(devbox: Devbox, shelly: Path, program: str) -> None:
    spec = shelly / "devbox.toml"
    spec.write_text(spec.read_text() + f'\n[shell]\nprogram = "{program}"\n')
    term = _spawn(devbox, shelly)
    child = term.child
    assert "in the box" in term.run('echo "$SHELL_TEST"')
    term.sendline("exit 3")
    child.expect(pexpect.EOF)
    child.close()
    if program != "sh":  # dash cannot hand the terminal back across the pid namespace
        assert child.exitstatus == 3


def test_a_run_joins_the_open_shell_and_mounts_nothing_twice(devbox: Devbox, shelly: Path) -> None:
    warnings_before = _overlay_warnings()
    term = _spawn(devbox, shelly)
    child = term.child
    assert "No such file" in term.run("cat /etc/seen 2>&1")
    r = devbox("run", "--", "sh", "-c", "echo x > /etc/seen", cwd=shelly, check=True)
    assert r.returncode == 0
    assert term.run("cat /etc/seen").strip() == "x"
    # the shell's own write is visible to a second run at once, too
    term.run("echo from-shell > /etc/seen2")
    assert devbox("run", "--", "cat", "/etc/seen2", cwd=shelly).stdout == "from-shell\n"
    term.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert _overlay_warnings() == warnings_before
    # the box went away with its last session; the next run starts it again and sees the writes
    assert devbox("run", "--", "cat", "/etc/seen", cwd=shelly).stdout == "x\n"
