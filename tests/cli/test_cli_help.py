"""Every help screen names arguments and options for people, and devbox's own `-v`/`-q` work
after the command as before it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from devbox.cli import app

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
TYPE_LEAK = re.compile(r"<(?:bool|str|int|float|path|list\[[^>]*\]|tuple\[[^>]*\]|[a-z]+\|)[^>]*>")


def devbox(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devbox", *args], cwd=cwd, capture_output=True, text=True
    )


def test_every_command_is_walked() -> None:
    assert {"build", "run", "status", "ls", "doctor", "hook", "gc", "completion"} <= set(COMMANDS)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_shows_no_python_types(tmp_path: Path, command: str | None) -> None:
    r = devbox(*([command] if command else []), "--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Usage: devbox" in r.stdout
    assert not TYPE_LEAK.findall(r.stdout), r.stdout
    assert "{" not in r.stdout.splitlines()[0], r.stdout  # `{command}...` in the usage line
    if command:
        assert "-v, --verbose" in r.stdout and "-q, --quiet" in r.stdout


def test_help_names_arguments_and_values(tmp_path: Path) -> None:
    run = devbox("run", "--help", cwd=tmp_path).stdout
    assert "Usage: devbox run [OPTIONS] [SCRIPT | -- COMMAND...]" in run
    assert "--older-than DURATION" in devbox("gc", "--help", cwd=tmp_path).stdout
    assert "[setup].inputs" in devbox("--help", cwd=tmp_path).stdout  # not eaten as markup


@pytest.mark.parametrize("flag", ["-v", "--quiet"])
@pytest.mark.parametrize("command", COMMANDS)
def test_global_flags_are_accepted_after_every_command(
    tmp_path: Path, command: str, flag: str
) -> None:
    r = devbox(command, flag, "--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_verbose_and_quiet_after_the_command_take_effect(tmp_path: Path) -> None:
    (tmp_path / "devbox.toml").write_text('[box]\nbase = "debian:bookworm"\n')
    r = devbox("status", "-v", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "base:     debian:bookworm" in r.stdout
    r = devbox("init", "--force", "-q", cwd=tmp_path)  # quiet: no "wrote ..." line
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r
    r = devbox("init", "--force", cwd=tmp_path)
    assert "wrote" in r.stdout + r.stderr
