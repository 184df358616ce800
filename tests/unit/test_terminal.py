"""The terminal helper (tests/terminal.py) in real bash, zsh and fish: lines typed at a shell
that is slow to show its first prompt all run, in order, and a prompt fish redraws as you type
is never taken for the next one."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pexpect
import pytest

from tests.terminal import Terminal, new_tag, prompt_rc

SHELLS = ["bash", "zsh", "fish"]


def _spawn(shell: str, home: Path, rc: str) -> tuple[Terminal, io.StringIO]:
    if not shutil.which(shell):
        pytest.fail(f"{shell} is missing: ./scripts/test installs it")
    tag = new_tag()
    rc += prompt_rc(shell, tag, "host> ")
    files = {"bash": "rc", "zsh": ".zshrc", "fish": ".config/fish/config.fish"}
    (home / files[shell]).parent.mkdir(parents=True, exist_ok=True)
    (home / files[shell]).write_text(rc)
    argv = {
        "bash": ["bash", "--noprofile", "--rcfile", str(home / "rc"), "-i"],
        "zsh": ["zsh", "-i"],
        "fish": ["fish", "-i"],
    }[shell]
    env = dict(os.environ)
    env.update(
        HOME=str(home), ZDOTDIR=str(home), XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"), HISTFILE=str(home / "history"), TERM="dumb",
        LANG="C.UTF-8",
    )  # fmt: skip
    child = pexpect.spawn(
        argv[0], argv[1:], cwd=str(home), env=env, encoding="utf-8", timeout=30,
        dimensions=(40, 250),
    )  # fmt: skip
    child.logfile_read = transcript = io.StringIO()
    return Terminal(child, tag=tag), transcript


@pytest.mark.parametrize("shell", SHELLS)
def test_lines_typed_at_a_shell_slow_to_start_all_run(tmp_path: Path, shell: str) -> None:
    """The rc file takes a second after setting the prompt up: what is typed meanwhile is lost
    (fish drops it), unless typing waits for the prompt."""
    term, transcript = _spawn(shell, tmp_path, "sleep 1\n")
    try:
        for n in range(3):
            assert term.run(f"echo typed-{n}") == f"typed-{n}\n", transcript.getvalue()
        term.sendline("exit 7")
        term.child.expect(pexpect.EOF)
    finally:
        term.child.close(force=True)
    assert term.child.exitstatus == 7


@pytest.mark.parametrize("shell", SHELLS)
def test_numbered_prompts_keep_the_status_and_wait_past_redraws(tmp_path: Path, shell: str) -> None:
    status = "$status" if shell == "fish" else "$?"
    term, transcript = _spawn(shell, tmp_path, "")
    try:
        term.sendline("false")
        term.sendline(f"echo status={status}")
        term.child.expect_exact("status=1")
        # lines whose output nobody reads: each still waits for its own prompt
        for n in range(5):
            term.sendline(f"echo quiet-{n} > {tmp_path}/quiet-{n}")
        term.wait_prompt()
        assert term.next == 9, transcript.getvalue()
        assert [(tmp_path / f"quiet-{n}").read_text() for n in range(5)] == [
            f"quiet-{n}\n" for n in range(5)
        ]
    finally:
        term.child.close(force=True)
