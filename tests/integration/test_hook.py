"""Auto-activation: the hook in real bash, zsh and fish, driven through a terminal with
pexpect, in a project whose path has spaces, quotes and non-ASCII; shims run in the real box."""

from __future__ import annotations

import io
import math
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest

from devbox.activation.hook import quote
from tests.helpers import Devbox, MakeProject
from tests.terminal import Terminal, box_prompt, new_tag, prompt_rc

pytestmark = pytest.mark.integration

SPEC = """\
[box]
name = "hookbox"
base = "debian:bookworm"

[packages]
apt = ["python3"]

[env]
HOOK_GREETING = "it's \\"quoted\\" ü"
PATH = "${DEVBOX_PROJECT}/bin:${PATH}"

[shell]
expose = ["python3", "printenv"]
"""
PROJECT_NAME = 'it\'s a "box" ü'
IN_BOX = (
    'python3 -c \'import os; print(open("/etc/debian_version").read().strip(), '
    'os.environ.get("DEVBOX_BOX"), os.getcwd())\''
)
IGNORED = ("PWD", "OLDPWD", "SHLVL", "_")
SHELLS = ["bash", "zsh", "fish"]


@pytest.fixture
def project(devbox: Devbox, make_project: MakeProject) -> Path:
    path: Path = make_project(PROJECT_NAME, SPEC)
    (path / "sub dir").mkdir()
    devbox("build", cwd=path, check=True)
    return path


@dataclass
class Shell:
    """A real interactive shell with the devbox hook in its rc file."""

    name: str
    term: Terminal
    home: Path
    transcript: io.StringIO
    count: int = 0

    @property
    def child(self) -> pexpect.spawn[str]:
        return self.term.child

    @property
    def status(self) -> str:
        return "$status" if self.name == "fish" else "$?"

    def q(self, value: str | Path) -> str:
        return quote(self.name, str(value))

    def run(self, command: str) -> str:
        """Run a command line; return its output (the prompt hook has run before it)."""
        self.count += 1
        return self.term.run(command)

    def line(self, command: str) -> str:
        return self.run(command).strip()

    def cd(self, path: str | Path) -> str:
        """cd, then whatever the hook printed on the way (up to the next prompt)."""
        self.term.sendline(f"cd {self.q(path)}")
        mark = len(self.transcript.getvalue())
        self.term.wait_prompt()
        return self.transcript.getvalue()[mark:].replace("\r\n", "\n")

    def since(self, mark: int) -> str:
        """Everything the shell printed since `mark` (a length of the transcript), once the
        prompt after the last command has been shown (the first `true` may be the last command,
        its prompt is shown before the second one runs)."""
        self.line("true")
        self.line("true")
        return self.transcript.getvalue()[mark:]

    def env(self) -> dict[str, str]:
        out = self.home / f"env-{self.count}.txt"
        self.run(f"env | sort > {self.q(out)}")
        pairs = (line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
        return {k: v for k, v in pairs if k not in IGNORED}


def settle(*paths: Path) -> None:
    """Wait until the last change to `paths` is more than a second old. fish's `path mtime` has
    whole seconds, so while a change is younger the hook cannot tell it from a later edit in the
    same second, and looks again (starts devbox) at each prompt: by design, but not the
    unchanged prompt a test of "nothing starts" means. A fast machine gets from `devbox allow`
    to the shell's first prompts within that second."""
    newest = max(math.floor(p.stat().st_mtime) for p in paths)
    time.sleep(max(0.0, newest + 1.2 - time.time()))


StartShell = Callable[[str, Path], Shell]  # the `start` fixture: (shell, cwd) -> Shell


def _rc(shell: str, devbox: Devbox, tag: str) -> tuple[list[str], dict[str, str]]:
    """(argv, env) for an interactive `shell` whose rc installs the hook (twice) after an
    existing prompt command that prints the last status; its prompt is numbered (`tag`)."""
    hook = shlex.join([*devbox.argv("hook", shell)])
    if shell == "bash":
        rc = f'PROMPT_COMMAND=\'echo "pc:$?"\'\neval "$({hook})"\neval "$({hook})"\n' + prompt_rc(
            shell, tag, "host$ "
        )
        return ["bash", "--noprofile", "--rcfile", "{home}/rc", "-i"], {"rc": rc}
    if shell == "zsh":
        rc = (
            f'eval "$({hook})"\neval "$({hook})"\n'
            '_user_precmd() { echo "pc:$?"; }\nprecmd_functions+=(_user_precmd)\n'
            + prompt_rc(shell, tag, "host%# ")
        )
        return ["zsh", "-i"], {".zshrc": rc}
    rc = prompt_rc(shell, tag, "host> ", fish_before='echo "pc:$status"') + (
        f"{hook} | source\n{hook} | source\n"
    )
    return ["fish", "-i"], {".config/fish/config.fish": rc}


@pytest.fixture
def start(devbox: Devbox, tmp_path: Path) -> Iterator[StartShell]:
    children: list[pexpect.spawn[str]] = []

    def start(shell: str, cwd: Path) -> Shell:
        home = tmp_path / f"home-{shell}"
        tag = new_tag()
        argv, files = _rc(shell, devbox, tag)
        for rel, text in files.items():
            (home / rel).parent.mkdir(parents=True, exist_ok=True)
            (home / rel).write_text(text)
        env = devbox.env(
            {
                "HOME": str(home),
                "ZDOTDIR": str(home),
                "XDG_CONFIG_HOME": str(home / ".config"),
                "XDG_DATA_HOME": str(home / ".local/share"),
                "HISTFILE": str(home / "history"),
                "TERM": "dumb",
                "LANG": "C.UTF-8",
            }
        )
        argv = [a.replace("{home}", str(home)) for a in argv]
        child = pexpect.spawn(
            argv[0], argv[1:], cwd=str(cwd), env=env, encoding="utf-8", timeout=120,
            dimensions=(40, 250),
        )  # fmt: skip
        children.append(child)
        child.logfile_read = transcript = io.StringIO()
        return Shell(shell, Terminal(child, tag=tag), home, transcript)

    yield start
    for child in children:
        child.close(force=True)


@pytest.mark.parametrize("shell", SHELLS)
def test_activation_in_a_subdirectory_and_exact_restore(
    start: StartShell, project: Path, tmp_path: Path, shell: str
) -> None:
    sh: Shell = start(shell, tmp_path)
    before = sh.env()
    # untrusted: one line naming `devbox allow`, nothing activated
    said = sh.cd(project / "sub dir")
    assert "is not allowed to activate; `devbox allow` trusts it" in said, said
    assert said.count("devbox allow") == 1, said
    assert sh.env() == before
    assert "(devbox:hookbox)" not in sh.run("true")
    # allowed (through the hook's `devbox` function): active at the next prompt
    assert "devbox: allowed" in sh.run("devbox allow")
    sh.child.expect_exact("(devbox:hookbox)")
    env = sh.env()
    assert env["HOOK_GREETING"] == 'it\'s "quoted" ü'
    assert env["DEVBOX_ACTIVE"] == "hookbox"
    assert env["DEVBOX_PROJECT"] == str(project)
    shims, rest = env["PATH"].split(":", 1)
    assert rest == f"{project}/bin:{before['PATH']}"
    assert sorted(p.name for p in Path(shims).iterdir()) == ["printenv", "python3"]
    # the shims run in the box, in this subdirectory
    version, box, cwd = sh.line(IN_BOX).split(" ", 2)
    assert re.fullmatch(r"12\.\d+", version), version
    assert box == "hookbox"
    assert cwd == str(project / "sub dir")
    assert sh.line("printenv DEVBOX_BOX") == "hookbox", "an exposed command runs in the box"
    out = sh.line(f"python3 -c 'raise SystemExit(3)'; echo rc={sh.status}")
    assert out == "rc=3", "the exit status passes through"
    # leaving restores the environment exactly
    sh.cd("/")
    assert "(devbox:hookbox)" not in sh.run("true")
    assert sh.env() == before


@pytest.mark.parametrize("shell", SHELLS)
def test_editing_the_spec_deactivates_until_allowed_again(
    start: StartShell, devbox: Devbox, project: Path, tmp_path: Path, shell: str
) -> None:
    devbox("allow", cwd=project, check=True)
    sh: Shell = start(shell, tmp_path)
    before = sh.env()
    sh.cd(project)
    assert sh.line('echo "$DEVBOX_ACTIVE"') == "hookbox"
    shims = Path(sh.env()["PATH"].split(":")[0])
    spec = project / "devbox.toml"
    mark = len(sh.transcript.getvalue())
    spec.write_text(spec.read_text().replace("quoted", "edited"))
    said = sh.since(mark)
    assert "changed since it was allowed; `devbox allow` trusts it again" in said, said
    assert sh.env() == before, "an edited spec deactivates the box"
    r = subprocess.run(
        [str(shims / "python3"), "-c", "print('ran')"], cwd=project, env=devbox.env(),
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 1, "a shim never runs a changed spec"
    assert r.stdout == ""
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "changed since it was allowed; `devbox allow` trusts it again" in r.stderr
    r = devbox("allow", cwd=project, check=True)
    assert "allowed" in r.stderr
    sh.run("true")  # the next prompt sees it
    assert sh.line('echo "$DEVBOX_ACTIVE $HOOK_GREETING"') == 'hookbox it\'s "edited" ü'


@pytest.mark.parametrize("shell", SHELLS)
def test_status_survives_and_an_unchanged_prompt_starts_no_devbox(
    start: StartShell, devbox: Devbox, project: Path, tmp_path: Path, shell: str
) -> None:
    devbox("allow", cwd=project, check=True)
    settle(project / "devbox.toml", devbox.store / "state" / "trust")
    sh: Shell = start(shell, tmp_path)
    sh.cd(project)
    assert sh.line('echo "$DEVBOX_ACTIVE"') == "hookbox"
    sh.term.sendline("false")
    sh.child.expect_exact("pc:1")
    sh.term.sendline("true")
    sh.child.expect_exact("pc:0")
    # from now on, calling devbox leaves a trace: nothing changed, nothing is called
    if shell == "fish":
        sh.run("function _devbox_run; echo CALLED-DEVBOX; end")
    else:
        sh.run("_devbox_run() { echo CALLED-DEVBOX; }")
    mark = len(sh.transcript.getvalue())
    for command in ("true", "cd " + sh.q(project / "sub dir"), "true", "false", "cd .."):
        sh.run(command)
    assert "CALLED-DEVBOX" not in sh.since(mark)
    assert sh.line('echo "$DEVBOX_ACTIVE"') == "hookbox"
    mark = len(sh.transcript.getvalue())
    (project / "devbox.toml").touch()
    assert "CALLED-DEVBOX" in sh.since(mark), "a changed spec is looked at again"


@pytest.mark.parametrize("shell", SHELLS)
def test_switching_projects_nesting_and_deactivate(
    start: StartShell,
    devbox: Devbox,
    project: Path,
    make_project: MakeProject,
    tmp_path: Path,
    shell: str,
) -> None:
    inner_spec = SPEC.replace('name = "hookbox"', 'name = "inner"').replace("ü", "inner")
    inner = make_project(f"{PROJECT_NAME}/sub dir/inner", inner_spec)
    other = make_project("other", SPEC.replace('name = "hookbox"', 'name = "other"'))
    for p in (project, inner, other):
        devbox("allow", cwd=p, check=True)
    sh: Shell = start(shell, tmp_path)
    before = sh.env()
    active = 'echo "$DEVBOX_ACTIVE|$HOOK_GREETING"'
    sh.cd(project / "sub dir")
    assert sh.line(active) == 'hookbox|it\'s "quoted" ü'
    sh.cd(inner)
    assert sh.line(active) == 'inner|it\'s "quoted" inner', "a nested project wins"
    sh.cd(other)
    assert sh.line(active) == 'other|it\'s "quoted" ü'
    path = sh.env()["PATH"]
    assert path.count("/shims/") == 1, "switching leaves one shim directory on PATH"
    assert f"{project}/bin" not in path
    assert sh.line(f"devbox deactivate; echo rc={sh.status}") == "rc=0"
    assert sh.env() == before
    assert sh.line(active) == "|", "deactivated until the shell leaves the project"
    sh.cd("/")
    sh.cd(other)
    assert sh.line(active) == 'other|it\'s "quoted" ü'


@pytest.mark.parametrize("shell", SHELLS)
def test_env_files_reach_the_activated_shell_once_allowed(
    start: StartShell, devbox: Devbox, make_project: MakeProject, tmp_path: Path, shell: str
) -> None:
    """`[env] files`: the .env's values are exported with [env]'s (which win); code in the box
    can write .env, so a changed one is taken only when the user allows it again."""
    spec = '[box]\nname = "envbox"\nbase = "debian:bookworm"\n\n[env]\nfiles = [".env"]\n'
    spec += 'B = "spec ${A}"\n'
    project: Path = make_project("env files", spec, {".env": "A='one $x'\nB=dotenv\n"})
    devbox("allow", cwd=project, check=True)
    sh: Shell = start(shell, tmp_path)
    sh.cd(project)
    assert sh.line('echo "$DEVBOX_ACTIVE|$A|$B"') == "envbox|one $x|spec one $x"
    (project / ".env").write_text("A=two\n")
    sh.run("true")
    assert sh.line('echo "$A"') == "one $x", "not taken before it is allowed"
    devbox("allow", cwd=project, check=True)
    sh.run("true")  # the next prompt sees the new trust
    assert sh.line('echo "$A|$B"') == "two|spec two"


PROMPT_SPEC = """\
[box]
name = "prompts"
base = "debian:bookworm"

[packages]
apt = ["zsh", "fish"]

[shell]
program = "{shell}"
"""
_ESCAPES = re.compile(
    r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()=>][0-9A-Za-z]?"
)


def _seen(text: str) -> list[str]:
    """The lines a person sees: escape sequences and carriage returns dropped."""
    return [line.rstrip("\r").rsplit("\r", 1)[-1] for line in _ESCAPES.sub("", text).split("\n")]


@pytest.mark.parametrize("shell", SHELLS)
def test_a_shell_in_the_box_is_told_from_the_activated_host_shell(
    start: StartShell, devbox: Devbox, make_project: MakeProject, shell: str
) -> None:
    """The hook marks the host's prompt `(devbox:NAME)`; `devbox shell`'s prompt, from there,
    is marked otherwise (`⬢ NAME`), in bash, zsh and fish alike."""
    project: Path = make_project(f"prompts {shell}", PROMPT_SPEC.format(shell=shell))
    devbox("build", cwd=project, check=True)
    devbox("allow", cwd=project, check=True)
    sh: Shell = start(shell, project)
    mark = len(sh.transcript.getvalue())
    host = [line for line in _seen(sh.since(mark)) if "prompts)" in line]
    assert host and all("⬢" not in line for line in host), host
    sh.term.sendline("devbox shell")
    box_term = Terminal(sh.child, prompt=box_prompt("prompts"))
    mark = len(sh.transcript.getvalue())
    assert box_term.run("echo $DEVBOX_BOX").strip() == "prompts"
    box_term.run("true")
    box_term.wait_prompt()
    box = [line for line in _seen(sh.transcript.getvalue()[mark:]) if "⬢" in line]
    assert box and all("(devbox:" not in line for line in box), box
    assert all(line.startswith("⬢ prompts ") for line in box), box
    mark = len(sh.transcript.getvalue())
    box_term.sendline("exit")
    assert any("(devbox:prompts)" in line for line in _seen(sh.since(mark))), "the host's again"
