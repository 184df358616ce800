"""`devbox completion bash|zsh|fish`: the scripts load in the real shells and complete command
names, options and their values; a Tab runs no devbox."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pexpect
import pytest


def completion(shell: str, tmp_path: Path) -> Path:
    r = subprocess.run(
        [sys.executable, "-m", "devbox", "completion", shell],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    script = tmp_path / f"devbox.{shell}"
    script.write_text(r.stdout)
    return script


# No `devbox` on PATH: completion must not need one (a static script, no call at Tab).
ENV = {"PATH": "/usr/bin:/bin", "TERM": "dumb", "LANG": "C.UTF-8"}


def test_bash_completes_commands_options_and_values(tmp_path: Path) -> None:
    script = completion("bash", tmp_path)
    subprocess.run(["shellcheck", str(script)], check=True)
    probe = r"""
source "$1"
complete -p devbox
t() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _devbox_complete; echo "${COMPREPLY[*]}"; }
t devbox st
t devbox build --lo
t devbox -q build -v --no
t devbox init --template ''
t devbox hook z
t devbox --vers
t devbox run --r
t devbox run whoam
t devbox run --root -- whoam
t devbox run ls -
"""
    r = subprocess.run(
        ["bash", "--norc", "-c", probe, "bash", str(script)],
        capture_output=True,
        text=True,
        env=ENV | {"HOME": str(tmp_path)},
    )
    assert r.stderr == ""
    assert r.stdout.splitlines() == [
        "complete -o default -F _devbox_complete devbox",
        "status",
        "--locked",
        "--no-cache",
        "c django-postgres mariadb minimal node python redis",
        "zsh",
        "--version",
        "--root",
        "whoami",  # the command `run` runs: a command name,
        "whoami",
        "",  # then bash's own completion (-o default)
    ]


def _interactive(argv: list[str], tmp_path: Path) -> pexpect.spawn[str]:
    child = pexpect.spawn(
        argv[0], argv[1:], encoding="utf-8", timeout=20, env=ENV | {"HOME": str(tmp_path)},
        dimensions=(24, 200),
    )  # fmt: skip
    return child


def _tab(child: pexpect.spawn[str], line: str, expect: str) -> None:
    child.send(line + "\t")
    child.expect_exact(expect)
    child.send("\x15")  # clear the line


def test_zsh_completes_at_a_tab(tmp_path: Path) -> None:
    script = completion("zsh", tmp_path)
    child = _interactive(["zsh", "-f", "-i"], tmp_path)
    try:
        child.sendline(f"PS1='zsh-ready> '; source {script}; echo load""ed")  # fmt: skip
        child.expect_exact("loaded")
        child.expect_exact("zsh-ready> ")
        _tab(child, "devbox st", "devbox status ")
        _tab(child, "devbox build --lo", "devbox build --locked ")
        _tab(child, "devbox hook fi", "devbox hook fish ")
        _tab(child, "devbox init --base debian:tri", "debian:trixie ")
        _tab(child, "devbox run -- whoam", "devbox run -- whoami ")  # as if typed on its own
    finally:
        child.close(force=True)


def test_fish_completes_commands_options_and_values(tmp_path: Path) -> None:
    script = completion("fish", tmp_path)
    probe = (
        f"source {script}\n"
        "complete -C 'devbox st'\n"
        "echo ==\n"
        "complete -C 'devbox build --lo'\n"
        "echo ==\n"
        "complete -C 'devbox init --template '\n"
        "echo ==\n"
        "complete -C 'devbox ls --j'\n"
        "echo ==\n"
        "complete -C 'devbox run --root -- whoam'\n"
    )
    r = subprocess.run(
        ["fish", "--no-config", "-c", probe],
        capture_output=True,
        text=True,
        env=ENV | {"HOME": str(tmp_path)},
    )
    assert r.stderr == ""
    parts = [p.strip().splitlines() for p in r.stdout.split("==\n")]
    assert parts[0] == ["status\tThis project's box: base, layers, lock state"]
    assert parts[1] == ["--locked"]
    assert parts[2] == ["c", "django-postgres", "mariadb", "minimal", "node", "python", "redis"]
    assert parts[3] == ["--json"]
    assert [line.split("\t")[0] for line in parts[4]] == ["whoami"]


def test_an_unknown_shell_is_refused(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "devbox", "completion", "tcsh"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "tcsh" in r.stderr and "bash" in r.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_every_command_is_offered(tmp_path: Path, shell: str) -> None:
    text = completion(shell, tmp_path).read_text()
    for verb in ("build", "run", "shell", "status", "ls", "doctor", "gc", "completion"):
        assert verb in text
