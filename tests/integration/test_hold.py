"""An activated shell holds its box up: real bash, zsh and fish with the hook, driven through a
terminal, DEVBOX_LINGER=1. The box comes up on `cd` without a command, stays up while the
shell sits idle, and goes after the linger once the shell leaves the project, deactivates or
exits. A box restarted for a new stack while a shell holds it is held again."""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from devbox.activation.hook import quote, runner_code
from devbox.sandbox import sessions
from devbox.store.paths import ProjectPaths, project_id
from tests.helpers import Devbox, MakeProject
from tests.terminal import Terminal, new_tag, prompt_rc

pytestmark = pytest.mark.integration

LINGER = {"DEVBOX_LINGER": "1"}
SPEC = """\
[box]
name = "holdbox"
base = "debian:bookworm"

[shell]
expose = ["cat"]
"""
SHELLS = ["bash", "zsh", "fish"]


def paths(devbox: Devbox, project: Path) -> ProjectPaths:
    return ProjectPaths(devbox.store / "projects" / project_id(project))


def wait_for(what: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.05)
    return what()


def down(devbox: Devbox, project: Path) -> Callable[[], bool]:
    return lambda: sessions.supervisor_pid(paths(devbox, project)) is None


def up(devbox: Devbox, project: Path) -> Callable[[], bool]:
    return lambda: sessions.supervisor_pid(paths(devbox, project)) is not None


CALLED = "CALLED-DEVBOX"


def user_env(home: Path) -> dict[str, str]:
    """The shells' environment: the launcher is current only for the HOME it was written for."""
    return {
        **LINGER,
        "HOME": str(home),
        "ZDOTDIR": str(home),
        "TERM": "dumb",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "HISTFILE": str(home / "history"),
    }


@pytest.fixture
def project(devbox: Devbox, make_project: MakeProject, tmp_path: Path) -> Path:
    """Built, allowed, entered once (so its launcher exists), and down again."""
    path: Path = make_project("hold me", SPEC)
    devbox("allow", cwd=path, check=True)
    r = devbox("run", "--", "true", cwd=path, env=user_env(tmp_path / "home"))
    assert r.returncode == 0, r.stderr
    assert wait_for(down(devbox, path)), "the box lingers for a second only"
    return path


class Shell:
    def __init__(self, name: str, term: Terminal) -> None:
        self.name, self.term = name, term

    @property
    def pid(self) -> int:
        pid = self.term.child.pid
        assert pid is not None
        return pid

    def run(self, line: str) -> str:
        return self.term.run(line).replace("\r\n", "\n")

    def cd(self, path: Path | str) -> None:
        self.run(f"cd {quote(self.name, str(path))}")


StartShell = Callable[[str], Shell]


@pytest.fixture
def start(devbox: Devbox, tmp_path: Path) -> Iterator[StartShell]:
    children: list[pexpect.spawn[str]] = []

    def start(name: str) -> Shell:
        home = tmp_path / "home"
        tag = new_tag()
        hook = shlex.join(devbox.argv("hook", name))
        if name == "bash":
            files = {".bashrc": f'eval "$({hook})"\n' + prompt_rc(name, tag, "$ ")}
            argv = ["--noprofile", "--rcfile", str(home / ".bashrc"), "-i"]
        elif name == "zsh":
            files, argv = {".zshrc": f'eval "$({hook})"\n' + prompt_rc(name, tag, "% ")}, ["-i"]
        else:
            rc = prompt_rc(name, tag, "> ") + f"{hook} | source\n"
            files, argv = {".config/fish/config.fish": rc}, ["-i"]
        for rel, text in files.items():
            (home / rel).parent.mkdir(parents=True, exist_ok=True)
            (home / rel).write_text(text)
        env = devbox.env(user_env(home))
        child = pexpect.spawn(name, argv, cwd="/", env=env, encoding="utf-8", timeout=60)
        children.append(child)
        return Shell(name, Terminal(child, tag=tag))

    yield start
    for child in children:
        child.close(force=True)


@pytest.mark.parametrize("shell", SHELLS)
def test_an_activated_shell_holds_its_box_until_it_leaves(
    start: StartShell, devbox: Devbox, project: Path, shell: str
) -> None:
    sh = start(shell)
    p = paths(devbox, project)
    sh.cd(project)
    assert wait_for(up(devbox, project)), "cd brings the box up, no command run"
    pid = sessions.supervisor_pid(p)
    time.sleep(3)  # three lingers idle
    assert sessions.supervisor_pid(p) == pid, "held: still up, the same box"
    status = devbox("status", cwd=project).stdout
    assert f"running:  yes: held by 1 shell (pid {sh.pid})" in status, status
    why = json.loads(devbox("status", "--json", cwd=project).stdout)["up"]
    assert why == {"held_by": [sh.pid], "sessions": 0, "linger_left": None}, why
    assert sh.run("cat /etc/debian_version").strip()[:2] == "12"
    assert sessions.supervisor_pid(p) == pid, "the shim found it up"
    sh.cd("/")  # leaving the project releases it
    assert wait_for(down(devbox, project), 8), "gone after the linger"
    runner = runner_code(shell)  # from now on, a start of devbox by the hook says so
    if shell == "fish":
        sh.run(f"function _devbox_run; echo {CALLED} >&2; {runner} $argv; end")
    else:
        sh.run(f'_devbox_run() {{ echo {CALLED} >&2; {runner} "$@"; }}')
    said = sh.run(f"cd {quote(shell, str(project))}")
    assert CALLED not in said, f"activated from what devbox kept: {said}"
    assert wait_for(up(devbox, project)), "the kept activation holds and starts the box too"
    sh.run("devbox deactivate")
    assert wait_for(down(devbox, project), 8), "deactivation releases it"
    sh.cd("/")
    sh.cd(project)
    assert wait_for(up(devbox, project))
    time.sleep(1.5)
    assert up(devbox, project)()
    sh.term.sendline("exit")
    sh.term.child.expect(pexpect.EOF)
    assert wait_for(down(devbox, project), 8), "the shell's exit releases it"


def test_opting_out_starts_and_holds_nothing(
    start: StartShell, devbox: Devbox, project: Path
) -> None:
    sh = start("bash")
    sh.run("export DEVBOX_HOLD=0")
    sh.cd(project)
    assert sh.run('echo "$DEVBOX_ACTIVE"').strip() == "holdbox"
    time.sleep(1)
    assert down(devbox, project)(), "nothing started on cd"
    assert sh.run("cat /etc/debian_version").strip()[:2] == "12"
    assert wait_for(down(devbox, project), 8), "the shim's box lingers out as before"


def test_a_box_restarted_for_a_new_stack_is_held_again(
    start: StartShell, devbox: Devbox, project: Path
) -> None:
    """`devbox build`, then a command, restart the box while the shell holds it: the hold is no
    session, so nothing waits for the shell, and it holds the new box on the same FIFO."""
    sh = start("bash")
    p = paths(devbox, project)
    sh.cd(project)
    assert wait_for(up(devbox, project))
    old = sessions.supervisor_pid(p)
    spec = project / "devbox.toml"
    spec.write_text(SPEC.replace("[shell]", '[setup]\nrun = ["echo held > /etc/held"]\n\n[shell]'))
    devbox("allow", cwd=project, check=True)
    devbox("build", cwd=project, check=True, env=LINGER)
    r = devbox("run", "--", "cat", "/etc/held", cwd=project, env=LINGER, timeout=60)
    assert (r.returncode, r.stdout) == (0, "held\n"), r.stderr
    new = sessions.supervisor_pid(p)
    assert new not in (None, old), "restarted on the new stack"
    time.sleep(3)  # the shell has not seen a prompt since: its old fd holds the new box
    assert sessions.supervisor_pid(p) == new
    assert f"held by 1 shell (pid {sh.pid})" in devbox("status", cwd=project).stdout
    sh.run("true")  # the hook activates the allowed new spec, holding again
    assert os.path.exists(p.holds)
    sh.cd("/")
    assert wait_for(down(devbox, project), 8)
