"""Real unprivileged users for the rootless tests: one with a subuid/subgid range (tier 2), one
without (tier 3). Created by the (root) test run, removed afterwards."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAP_RANGE = 65536


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: Path
    python: str
    pythonpath: str

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": self.pythonpath,
            "LANG": "C.UTF-8",
            "TERM": "dumb",
        }
        env.update(extra or {})
        return env

    def argv(self, *args: str) -> list[str]:
        drop = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--"]
        return [*drop, self.python, "-m", "devbox", *args]

    def devbox(
        self, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), cwd=cwd, env=self.env(env), capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def sh(self, script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        drop = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--"]
        return subprocess.run(
            [*drop, "/bin/sh", "-c", script], cwd=cwd, env=self.env(), capture_output=True,
            text=True,
        )  # fmt: skip

    def own(self, path: Path) -> None:
        for p in [path, *path.rglob("*")]:
            os.lchown(p, self.uid, self.gid)


def _others_can_read(path: Path) -> bool:
    """Whether any user can reach and read `path` (every ancestor searchable by others)."""
    p = path.resolve()
    for d in [p, *p.parents]:
        mode = d.stat().st_mode
        if not mode & 0o001 or (d == p and not mode & 0o004):
            return False
    return True


def runtime(base: Path) -> tuple[str, str]:
    """A Python and PYTHONPATH that other users can run this checkout of devbox with."""
    py = Path(os.path.realpath(sys.executable))
    if not _others_can_read(py):
        py = Path("/usr/bin/python3")
    site = Path(sysconfig.get_paths()["purelib"])
    if not (_others_can_read(site) and _others_can_read(REPO / "devbox")):
        copy = base / "runtime"
        shutil.copytree(site, copy / "site", symlinks=True, ignore=shutil.ignore_patterns("devbox"))
        shutil.copytree(REPO / "devbox", copy / "src" / "devbox")
        shutil.copytree(REPO / "templates", copy / "src" / "templates")
        shutil.copytree(REPO / "shell-hooks", copy / "src" / "shell-hooks")
        subprocess.run(["chmod", "-R", "a+rX", str(copy)], check=True)
        site, src = copy / "site", copy / "src"
    else:
        src = REPO
    return str(py), f"{site}:{src}"


def _subid_lines(name: str) -> list[str]:
    out = []
    for f in ("/etc/subuid", "/etc/subgid"):
        try:
            out += [ln for ln in Path(f).read_text().splitlines() if ln.startswith(name + ":")]
        except OSError:
            pass
    return out


def _remove_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    subprocess.run(["pkill", "-KILL", "-u", name], check=False)
    for line in _subid_lines(name):
        _, start, count = line.split(":")
        rng = f"{start}-{int(start) + int(count) - 1}"
        subprocess.run(["usermod", "--del-subuids", rng, "--del-subgids", rng, name], check=False)
    subprocess.run(["userdel", "--force", name], check=False, capture_output=True)


def _free_range() -> str:
    end = 200000
    for f in ("/etc/subuid", "/etc/subgid"):
        try:
            for line in Path(f).read_text().splitlines():
                parts = line.split(":")
                if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                    end = max(end, int(parts[1]) + int(parts[2]))
        except OSError:
            pass
    return f"{end}-{end + MAP_RANGE - 1}"


def make_user(name: str, base: Path, run: tuple[str, str], *, subids: bool) -> User:
    _remove_user(name)
    home = base / f"home-{name}"
    subprocess.run(
        ["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash", name],
        check=True, capture_output=True,
    )  # fmt: skip
    for line in _subid_lines(name):  # useradd may hand out ranges by itself
        _, start, count = line.split(":")
        rng = f"{start}-{int(start) + int(count) - 1}"
        subprocess.run(["usermod", "--del-subuids", rng, "--del-subgids", rng, name], check=True)
    if subids:
        rng = _free_range()
        subprocess.run(["usermod", "--add-subuids", rng, "--add-subgids", rng, name], check=True)
    pw = pwd.getpwnam(name)
    return User(name, pw.pw_uid, pw.pw_gid, home, *run)


def remove_user(name: str) -> None:
    _remove_user(name)


TEST_USER_PREFIX = "dbxt-"  # then the tier's word and the test run's pid: dbxt-sub-4242


def remove_stale_users() -> None:
    """Remove the test users of runs that are gone (killed before their teardown)."""
    for entry in pwd.getpwall():
        prefix, _, pid = entry.pw_name.rpartition("-")
        if prefix.startswith(TEST_USER_PREFIX) and pid.isdigit() and not _alive(int(pid)):
            _remove_user(entry.pw_name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def scratch() -> Path:
    base = Path(tempfile.mkdtemp(prefix="devbox-rootless-", dir="/tmp"))
    base.chmod(0o755)
    return base


def users_scratch(names: list[str], why: str) -> Iterator[Path]:
    """The body of a fixture for tests with created users: skip unless root (`why` says why root
    is needed), fail when a tool is missing, clear the users of dead runs, and yield a scratch
    dir; afterwards remove `names` and the scratch dir."""
    import pytest

    if os.geteuid() != 0:
        pytest.skip(why)
    for tool in ("useradd", "newuidmap", "bwrap", "mmdebstrap", "unshare", "nsenter"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: ./scripts/test installs it")
    remove_stale_users()
    path = scratch()
    yield path
    for name in names:
        remove_user(name)
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)
