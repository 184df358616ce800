"""A hostile project directory name: a newline followed by a command, quotes, $(...), backticks,
a backslash, a tab and terminal escapes. No generated script, fstab, rc file or hook code runs
any of it on the host, and no raw escape from it reaches the terminal in devbox's output."""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
from pathlib import Path

import pexpect
import pytest

from devbox.errors import printable
from tests.security.actors import Actor, changed

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# a command after each newline, in a $(...) and in backticks: each touches a file in $HOME
HOSTILE = (
    'q\ncd;touch pwned-nl\n\' "$(cd;touch pwned-subst)" `cd;touch pwned-tick` a\\b\tc d'
    "\x1b]0;pwned\x07\x1b[2J\n"
)
MARKERS = ("pwned-nl", "pwned-subst", "pwned-tick", "pwned-env")
ESCAPES = ("\x1b]0;pwned", "\x1b[2J")  # from the name: never raw in devbox's output
GREETING = 'it\'s "$(cd;touch pwned-env)" \\ \x1b[2J\n'
SPEC = """\
[box]
name = "hostile"
base = "debian:bookworm"
{extra}
[env]
GREETING = "it's \\"$(cd;touch pwned-env)\\" \\\\ \\u001b[2J\\n"
"""
NO_PYTHON = {"PYTHONHOME": "/nonexistent"}  # any Python started with this dies at once
IN_BOX = 'pwd; printf "%s" "$GREETING"'


def _clean(what: str, r: subprocess.CompletedProcess[str], *, stdout: bool = True) -> None:
    out = (r.stdout if stdout else "") + r.stderr
    assert "Traceback" not in out, f"{what}: {out}"
    for esc in ESCAPES:
        assert esc not in out, f"{what} printed a raw escape from the name: {out!r}"


def _not_pwned(actor: Actor, project: Path) -> None:
    for name in MARKERS:
        for where in (actor.home, project, Path.cwd()):
            assert not (where / name).exists(), f"an injected command ran: {where / name}"


def _front(actor: Actor) -> Path:
    """devbox's sh front (devbox/front.sh, installed as `devbox`), a copy the actor can run."""
    front = actor.work / "front.sh"
    if not front.exists():
        front.write_text((REPO / "devbox/front.sh").read_text())
        actor.own(front)
    return front


def test_a_hostile_project_dir_is_only_a_name(actor: Actor, sentinels: dict[Path, bytes]) -> None:
    p = actor.project(HOSTILE, SPEC.format(extra=""))
    r = actor.devbox("build", cwd=p)
    assert r.returncode == 0, r.stderr
    _clean("build", r)
    # through Python (writes the launcher), then twice through the front and the launcher
    r = actor.devbox("run", "--", "sh", "-c", IN_BOX, cwd=p)
    assert (r.returncode, r.stdout) == (0, f"{p}\n{GREETING}"), r.stderr
    _clean("run", r, stdout=False)
    front = _front(actor)
    for n in range(2):
        r = subprocess.run(
            actor.argv("/bin/sh", str(front), "run", "--", "sh", "-c", IN_BOX), cwd=p,
            env=actor.env(NO_PYTHON), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert (r.returncode, r.stdout) == (0, f"{p}\n{GREETING}"), f"run {n}: {r.stderr}"
        _clean(f"launcher run {n}", r, stdout=False)
    _not_pwned(actor, p)
    r = actor.devbox("status", cwd=p)
    assert r.returncode == 0, r.stderr
    _clean("status", r)
    assert f"project:  {printable(str(p))}\n" in r.stdout, r.stdout  # one line
    r = actor.devbox("ls", cwd=p)
    assert r.returncode == 0, r.stderr
    _clean("ls", r)
    assert printable(str(p)) in r.stdout, r.stdout
    # an error that names the path
    (p / "devbox.toml").write_text('[box]\nname = "hostile"\nbase = 3\n')
    r = actor.devbox("status", cwd=p)
    assert r.returncode == 1, r.stderr
    _clean("a spec error", r)
    assert "\\x1b]0;pwned" in r.stderr, r.stderr
    _not_pwned(actor, p)
    assert changed(sentinels) == []


# -- tier 1: devbox shell and the hook in bash, zsh and fish -------------------------------------


@pytest.fixture
def root_actor(actors: dict[int, Actor]) -> Actor:
    return actors[1]


def _marker(child: pexpect.spawn[str], command: str, n: int) -> str:
    child.sendline(f"echo BEGIN-{n}; {command}; echo END-{n}")
    child.expect(f"BEGIN-{n}\r?\n(.*?)END-{n}")
    assert isinstance(child.match, re.Match), child.match
    return child.match.group(1)


@pytest.mark.parametrize("program", ["bash", "zsh", "fish"])
def test_devbox_shell_in_a_hostile_project_dir(root_actor: Actor, program: str) -> None:
    actor = root_actor
    spec = SPEC.format(
        extra=f'\n[packages]\napt = ["zsh", "fish"]\n\n[shell]\nprogram = "{program}"\n'
    )
    p = actor.project(HOSTILE, spec)
    r = actor.devbox("build", cwd=p)
    assert r.returncode == 0, r.stderr
    transcript = io.StringIO()
    child = pexpect.spawn(
        actor.python(), ["-m", "devbox", "shell"], cwd=str(p),
        env=actor.env({"TERM": "dumb", "LANG": "C.UTF-8"}), encoding="utf-8", timeout=120,
        dimensions=(40, 250),
    )  # fmt: skip
    child.logfile_read = transcript
    try:
        child.expect_exact("⬢ hostile ")
        assert "IN-PROJECT" in _marker(child, "test -e devbox.toml && echo IN-PROJECT", 1)
        child.sendline("exit 3")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    _not_pwned(actor, p)
    for esc in ESCAPES:
        assert esc not in transcript.getvalue(), transcript.getvalue()


def _typed(shell: str, value: str) -> str:
    """`value` as a word to type at `shell`'s prompt: every byte escaped, so that no control
    character goes through the terminal (the test's own quoting, not devbox's)."""
    data = value.encode()
    if shell == "fish":
        return "".join(f"\\{'x' if b < 0x80 else 'X'}{b:02x}" for b in data)
    return "$'" + "".join(f"\\x{b:02x}" for b in data) + "'"


def _hook_rc(shell: str, actor: Actor, home: Path) -> list[str]:
    hook = shlex.join([actor.python(), "-m", "devbox", "hook", shell])
    if shell == "bash":
        (home / "rc").write_text(f"PS1='host$ '\neval \"$({hook})\"\n")
        return ["bash", "--noprofile", "--rcfile", str(home / "rc"), "-i"]
    if shell == "zsh":
        (home / ".zshrc").write_text(f"PS1='host%# '\neval \"$({hook})\"\n")
        return ["zsh", "-i"]
    rc = home / ".config/fish/config.fish"
    rc.parent.mkdir(parents=True)
    rc.write_text(
        f'function fish_prompt; printf "host> "; end\nfunction fish_title; end\n{hook} | source\n'
    )
    return ["fish", "-i"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_hook_in_a_hostile_project_dir(root_actor: Actor, tmp_path: Path, shell: str) -> None:
    actor = root_actor
    p = actor.project(HOSTILE, SPEC.format(extra=""))
    home = tmp_path / "home"
    home.mkdir()
    argv = _hook_rc(shell, actor, home)
    env = actor.env({"HOME": str(home), "ZDOTDIR": str(home), "TERM": "dumb", "LANG": "C.UTF-8",
                     "XDG_CONFIG_HOME": str(home / ".config"),
                     "HISTFILE": str(home / "hist")})  # fmt: skip
    transcript = io.StringIO()
    child = pexpect.spawn(argv[0], argv[1:], cwd=str(tmp_path), env=env, encoding="utf-8",
                          timeout=120, dimensions=(40, 250))  # fmt: skip
    child.logfile_read = transcript
    status = "$status" if shell == "fish" else "$?"
    same = f'test "$DEVBOX_PROJECT" = "$PWD"; and echo SAME-{status}'
    if shell != "fish":
        same = same.replace("; and", " &&")
    try:
        _marker(child, "true", 1)
        child.sendline(f"cd {_typed(shell, str(p))}")
        assert "SAME" not in _marker(child, same, 2)
        out = _marker(child, "devbox allow", 3)
        assert "devbox: allowed" in out, out
        _marker(child, "true", 4)
        assert "SAME-0" in _marker(child, same, 5)
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    text = transcript.getvalue()
    assert "is not allowed to activate" in text, text
    for esc in ESCAPES:
        assert esc not in text, text
    _not_pwned(actor, p)


@pytest.mark.parametrize(
    "char", [" ", "\t", "\n", "\\"], ids=["space", "tab", "newline", "backslash"]
)
def test_mount_reads_the_box_fstab_s_escapes_back(tmp_path: Path, char: str) -> None:
    """What `mount -a -T` (the supervisor's) makes of a project path with each character that
    fstab escapes: the bind goes from and to exactly that path, nothing else is mounted."""
    from devbox.sandbox.argv import Bind
    from devbox.sandbox.supervisor import box_fstab

    if os.geteuid() != 0:
        pytest.skip("mounts: needs root (CI is root)")

    src = tmp_path / f"pro{char}ject{char}x"
    src.mkdir()
    (src / "probe").write_text("here\n")
    merged = tmp_path / f"merged{char}m"
    merged.mkdir()
    fstab = box_fstab("unused", str(merged), [Bind(str(src), str(src))]).splitlines()[-1]
    (tmp_path / "fstab").write_text(fstab + "\n")
    dest = f"{merged}{src}"
    r = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         'mount -a -T "$1" && cat "$2/probe" && findmnt -rn -o TARGET | grep -c merged',
         "sh", str(tmp_path / "fstab"), dest],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (r.returncode, r.stdout) == (0, "here\n1\n"), (fstab, r.stderr)
