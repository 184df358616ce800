"""docs/tutorial.md, followed by a new user in a real terminal: a created user with a subuid
range (tier 2), their own store (no DEVBOX_HOME), bash with their own ~/.bashrc.

The steps come from the tutorial itself, so the two cannot drift: each ```console block is typed,
line by line, at the prompt (`$ ` at the host's, `(devbox:flaskapp) $ ` at the host's with the
hook active, `⬢ flaskapp $ ` in `devbox shell`), and the other lines must
appear in that command's output, in order (`…` matches anything; runs of spaces count as one).
A command the tutorial shows no output for must print nothing. A block after a
`<!-- file: PATH -->` comment is written to PATH in the project, as the user would save it.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pexpect
import pytest

from tests.integration.rootless import (
    REPO,
    TEST_USER_PREFIX,
    User,
    make_user,
    runtime,
    users_scratch,
)
from tests.terminal import Terminal, box_prompt, new_tag, prompt_rc

pytestmark = pytest.mark.integration

DOC = REPO / "docs" / "tutorial.md"
BOX = "flaskapp"
MARK = f"(devbox:{BOX}) "  # the hook's, on the host's prompt
BOX_MARK = f"⬢ {BOX} "  # devbox shell's
NAME = f"{TEST_USER_PREFIX}tut-{os.getpid()}"
FENCE = re.compile(r"^```(\S*)\n(.*?)^```$", re.M | re.S)
FILE_MARK = re.compile(r"<!-- file: (\S+) -->")
ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>])")


@dataclass
class Command:
    line: str
    mark: str  # "", MARK or BOX_MARK: the prompt it is typed at
    expected: list[str] = field(default_factory=list)


@dataclass
class File:
    path: str
    text: str


def steps(doc: str) -> list[Command | File]:
    out: list[Command | File] = []
    for m in FENCE.finditer(doc):
        lang, body = m.group(1), m.group(2)
        before = doc[: m.start()].rstrip().splitlines()
        marker = FILE_MARK.fullmatch(before[-1].strip()) if before else None
        if marker:
            out.append(File(marker.group(1), body))
            continue
        if lang != "console":
            continue
        current: Command | None = None
        for line in body.splitlines():
            if line.startswith(("$ ", MARK + "$ ", BOX_MARK + "$ ")):
                mark = next((m for m in (MARK, BOX_MARK) if line.startswith(m)), "")
                current = Command(line.split("$ ", 1)[1], mark)
                out.append(current)
            elif line.strip():
                assert current is not None, f"output before any command in {body!r}"
                current.expected.append(line)
    return out


def _squeeze(line: str) -> str:
    return " ".join(line.split())


def matches(expected: str, line: str) -> bool:
    parts = [re.escape(_squeeze(p)) for p in expected.split("…")]
    return re.fullmatch(".*".join(parts), _squeeze(line)) is not None


def screen_lines(raw: str) -> list[str]:
    """What the terminal shows of `raw`: escapes dropped, a line redrawn after a carriage
    return counted as its last state."""
    lines = []
    for line in ESCAPE.sub("", raw).split("\n"):
        shown = [seg for seg in line.rstrip("\r").split("\r") if seg.strip()]
        lines.append(shown[-1] if shown else "")
    return lines


def check_output(command: Command, output: list[str], transcript: str) -> None:
    wanted = [e for e in command.expected if e.strip() != "…"]
    if not command.expected:
        assert not any(line.strip() for line in output), (
            f"`{command.line}` printed what the tutorial does not show: {output}"
        )
        return
    i = 0
    for line in output:
        if i < len(wanted) and matches(wanted[i], line):
            i += 1
    assert i == len(wanted), (
        f"`{command.line}`: no line like {wanted[i]!r} (after the lines before it) in:\n"
        + "\n".join(output)
        + f"\n\n--- the whole terminal ---\n{transcript[-20000:]}"
    )


def test_the_tutorial_has_its_steps() -> None:
    """The tutorial parses into the steps the terminal test types (no root needed)."""
    got = steps(DOC.read_text())
    files = [s.path for s in got if isinstance(s, File)]
    assert files == ["app.py", "requirements.txt", "devbox.toml"]
    lines = [s.line for s in got if isinstance(s, Command)]
    for needed in ("devbox init", "devbox build", "devbox shell", "devbox allow",
                   "devbox build --locked", "devbox status"):  # fmt: skip
        assert needed in lines, needed
    assert lines.index("devbox init") < lines.index("devbox build")
    assert matches("devbox: allowed …", "devbox: allowed /home/x (with …)")
    assert not matches("[1/4] base …: cached", "[1/4] apt gcc: cached")
    assert screen_lines("a\r\n\x1b[1mb\x1b[0m\rc\r\n") == ["a", "c", ""]


# -- in a real terminal, as a new user -----------------------------------------------------------


@pytest.fixture(scope="module")
def user() -> Iterator[User]:
    for base in users_scratch([NAME], "creating a test user needs root (CI runs as root)"):
        yield make_user(NAME, base, runtime(base), subids=True)


class Session:
    """The user's bash in a terminal, and `devbox shell` when one is open in it."""

    def __init__(self, user: User) -> None:
        bin_dir = user.home / ".local" / "bin"
        bin_dir.mkdir(parents=True)
        # devbox as installed for this user (the checkout's Python code, on its own path: the
        # user's shell has no PYTHONPATH, as a person's has not)
        (bin_dir / "devbox").write_text(
            f'#!/bin/sh\nPYTHONPATH={user.pythonpath} exec {user.python} -m devbox "$@"\n'
        )
        (bin_dir / "devbox").chmod(0o755)
        tag = new_tag()
        (user.home / ".bashrc").write_text(prompt_rc("bash", tag, r"\u@\h:\w\$ "))
        user.own(user.home)
        drop = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", "--"]
        env = user.env({"TERM": "xterm-256color", "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
                        "SHELL": "/bin/bash"})  # fmt: skip
        del env["PYTHONPATH"]
        self.child = pexpect.spawn(
            drop[0], [*drop[1:], "bash", "-i"], cwd=str(user.home), env=env, encoding="utf-8",
            timeout=120, dimensions=(50, 250),
        )  # fmt: skip
        self.child.logfile_read = self.transcript = io.StringIO()
        self.host = Terminal(self.child, tag=tag)
        self.box = Terminal(self.child, prompt=box_prompt(BOX))
        self.in_box = False
        self.user = user
        self.host.wait_prompt()
        self.head = self._head()

    def _head(self) -> str:
        """The prompt the shell shows now, up to the marker the test reads it by."""
        return screen_lines(str(self.child.before))[-1]

    def type(self, command: Command) -> list[str]:
        """Type `command` at the prompt; return the lines it printed."""
        if self.in_box:
            assert command.mark == BOX_MARK, (
                f"`{command.line}` is typed in devbox shell: mark it {BOX_MARK}"
            )
        else:
            shows = MARK.strip() in self.head
            assert command.mark != BOX_MARK, f"`{command.line}` is typed on the host"
            assert shows == (command.mark == MARK), (
                f"before `{command.line}` the prompt is {self.head!r}: the tutorial shows it "
                + ("with" if command.mark else "without")
                + f" {MARK.strip()}"
            )
        term = self.box if self.in_box else self.host
        term.sendline(command.line)
        if command.line == "devbox shell":
            self.in_box = True
        elif self.in_box and command.line == "exit":
            self.in_box = False
        slow = command.line.startswith("devbox build")
        (self.box if self.in_box else self.host).wait_prompt(timeout=1200 if slow else 300)
        lines = screen_lines(str(self.child.before))
        self.head = lines[-1]
        return lines[1:-1]  # less the echoed command line and the next prompt

    def write(self, step: File) -> None:
        project = self.user.home / BOX
        assert project.is_dir(), f"{step.path} comes before the project directory"
        (project / step.path).write_text(step.text)
        self.user.own(project / step.path)


@pytest.mark.timeout(1800)  # two cold builds of the box as a new user, a compile of psycopg2
def test_the_tutorial_in_a_terminal(user: User) -> None:
    session = Session(user)
    try:
        for step in steps(DOC.read_text()):
            if isinstance(step, File):
                session.write(step)
            else:
                out = session.type(step)
                check_output(step, out, session.transcript.getvalue())
    except BaseException:  # a timeout too: show where the terminal stopped
        print(session.transcript.getvalue()[-6000:])
        raise
    finally:
        session.child.close(force=True)
    # what the tutorial says of the result, beyond what the terminal showed
    project = user.home / BOX
    assert (project / "devbox.lock").stat().st_uid == user.uid
    assert (user.home / ".local" / "share" / "devbox" / "layers").is_dir(), "the user's own store"
