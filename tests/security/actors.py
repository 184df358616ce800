"""Who runs devbox in the security tests: root (tier 1) and two created users, one with a
subuid range (tier 2) and one without (tier 3). Each has a home of its own holding the host files
a hostile box goes for, and projects it owns."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pexpect

from tests.integration.rootless import User

SPEC = """\
[box]
name = "{name}"
base = "debian:bookworm"
"""


@dataclass
class Actor:
    """devbox as one user on this host, in one tier."""

    tier: int
    home: Path  # HOME: the user's own files, the targets of the attacks
    work: Path  # where this actor's projects are made
    uid: int = 0
    gid: int = 0
    user: User | None = None  # None: root, this test process's own devbox
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        if self.user is not None:
            env = self.user.env(self.extra_env)
        else:
            env = {k: v for k, v in os.environ.items() if not k.startswith("DEVBOX_")}
            env.update({"HOME": str(self.home), "XDG_STATE_HOME": str(self.home / ".state")})
            env.update(self.extra_env)
        # idle boxes go 2 s after their last session, as in the other tests (and the created
        # users are not kept busy past the session by lingering boxes)
        env.setdefault("DEVBOX_LINGER", "2")
        env.update(extra or {})
        return env

    def _drop(self) -> list[str]:
        if self.user is None:
            return []
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--"]

    def python(self) -> str:
        return self.user.python if self.user is not None else sys.executable

    def devbox(
        self,
        *args: str,
        cwd: Path,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        """The Python CLI, as `devbox ARGS` would run it."""
        return subprocess.run(
            [*self._drop(), self.python(), "-m", "devbox", *args], cwd=cwd, env=self.env(env),
            capture_output=True, text=True, timeout=timeout, input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )  # fmt: skip

    def sh(
        self, script: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """A shell command on the host, as this user."""
        return subprocess.run(
            [*self._drop(), "/bin/sh", "-c", script], cwd=cwd, env=self.env(env),
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def argv(self, *argv: str) -> list[str]:
        """`argv` as this user (for pexpect and Popen)."""
        return [*self._drop(), *argv]

    def own(self, path: Path) -> None:
        for p in [path, *path.rglob("*")]:
            os.lchown(p, self.uid, self.gid)

    def project(
        self, name: str, spec: str | None = None, files: dict[str, str] | None = None
    ) -> Path:
        """A new project directory this actor owns, with `spec` (default: a bare bookworm box)."""
        path = self.work / name
        n = 1
        while path.exists():  # parametrized tests ask for the same name in each tier
            n += 1
            path = self.work / f"{name}-{n}"
        path.mkdir(parents=True)
        (path / "devbox.toml").write_text(spec if spec is not None else SPEC.format(name=path.name))
        for rel, text in (files or {}).items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_text(text)
        self.own(path)
        return path

    def store(self) -> Path:
        """Where this actor's store is (DEVBOX_HOME, else the XDG default)."""
        env = self.env()
        if env.get("DEVBOX_HOME"):
            return Path(env["DEVBOX_HOME"])
        return Path(env["HOME"]) / ".local/share/devbox"


def plant_sentinels(home: Path, uid: int, gid: int) -> dict[Path, bytes]:
    """Files a hostile box would go for, with their content: compared after the attack."""
    files = {
        home / ".bashrc": b"# the user's own bashrc\n",
        home / ".ssh/id_ed25519": b"-----BEGIN OPENSSH PRIVATE KEY----- not really\n",
        home / "victim": b"precious\n",
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.lchown(path, uid, gid)
        os.lchown(path.parent, uid, gid)
    (home / ".ssh").chmod(0o700)
    return files


def changed(sentinels: dict[Path, bytes]) -> list[str]:
    """The sentinel files that are not byte for byte what they were."""
    out = []
    for path, data in sentinels.items():
        try:
            if path.is_symlink() or path.read_bytes() != data:
                out.append(str(path))
        except OSError:
            out.append(str(path))
    return out


def spawn(actor: Actor, argv: list[str], cwd: Path) -> pexpect.spawn[str]:
    """`argv` as `actor`, in a terminal (pexpect), with TERM=dumb."""
    argv = actor.argv(*argv)
    return pexpect.spawn(
        argv[0], argv[1:], cwd=str(cwd), env=actor.env({"TERM": "dumb"}), encoding="utf-8",
        timeout=300, dimensions=(40, 200),
    )  # fmt: skip
