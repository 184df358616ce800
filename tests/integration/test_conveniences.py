"""[scripts] and [env] files with a real box: `devbox run NAME` through Python and through the
launcher alone (no Python), exit statuses, `--` for a command; .env values in `run`, the
launcher and a shim, a changed .env picked up, a symlinked one refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devbox.activation import shims
from devbox.spec import load as spec_load
from tests.helpers import Devbox, MakeProject

pytestmark = pytest.mark.integration

FRONT = Path(sys.executable).with_name("devbox")
NO_PYTHON = {"PYTHONHOME": "/nonexistent"}  # any Python started with this dies at once
SPEC = """\
[box]
name = "conv"
base = "debian:bookworm"

[env]
files = [".env"]
GREETING = "from the spec"
URL = "db://${DB_USER}@localhost"

[scripts]
hello = 'echo "$GREETING, $WHO"'
echo = "echo scripted"
fail = ["sh", "-c", "exit $1", "fail"]
seven = "exit 7"

[shell]
expose = ["printenv", "echo"]
"""
DOTENV = """\
# local settings
export WHO='the .env'
DB_USER=me
GREETING="from the .env"
"""


@pytest.fixture
def project(devbox: Devbox, make_project: MakeProject) -> Path:
    path: Path = make_project("conv 'project' ü", SPEC, {".env": DOTENV})
    return path


def front(
    devbox: Devbox, *args: str, cwd: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    if not FRONT.is_file() or FRONT.read_bytes()[:9] != b"#!/bin/sh":
        pytest.fail(f"{FRONT} is not devbox's sh front (install devbox: ./scripts/setup.sh)")
    return subprocess.run(
        [str(FRONT), *args], cwd=cwd, env=devbox.env(extra), capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip


def test_scripts_run_by_name_through_python_and_the_launcher(devbox: Devbox, project: Path) -> None:
    # the Python path (it builds, then writes the launcher)
    r = devbox("run", "hello", "and", "a b", cwd=project)
    assert (r.returncode, r.stdout) == (0, "from the spec, the .env and a b\n"), r.stderr
    r = devbox("run", cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "scripts of conv (devbox run NAME [ARGS...]):",
        '  hello  echo "$GREETING, $WHO"',
        "  echo   echo scripted",
        "  fail   sh -c 'exit $1' fail",
        "  seven  exit 7",
    ]
    # the launcher alone: no Python can start
    for args, want in [
        (("run", "hello"), (0, "from the spec, the .env\n")),
        (("run", "echo", "x y"), (0, "scripted x y\n")),
        (("run", "--", "echo", "x y"), (0, "x y\n")),  # `--`: the command, not the script
        (("run", "fail", "9"), (9, "")),
        (("run", "seven"), (7, "")),
        (("run", "sh", "-c", 'echo "$URL"'), (0, "db://me@localhost\n")),  # not a script
    ]:
        r = front(devbox, *args, cwd=project / "", extra=NO_PYTHON)
        assert (r.returncode, r.stdout) == want, (args, r.stderr)
    # the same through the Python path
    r = devbox("run", "fail", "3", cwd=project, env={"DEVBOX_LAUNCHER_SPEC": ""})
    assert r.returncode == 3, r.stderr
    r = devbox("run", "--", "echo", "x", cwd=project, env={"DEVBOX_LAUNCHER_SPEC": ""})
    assert r.stdout == "x\n"


def test_a_changed_script_or_env_file_takes_effect_on_the_next_run(
    devbox: Devbox, project: Path
) -> None:
    devbox("run", "--", "true", cwd=project, check=True)
    r = front(devbox, "run", "hello", cwd=project, extra=NO_PYTHON)
    assert r.stdout == "from the spec, the .env\n", r.stderr
    (project / ".env").write_text("WHO=someone else\n")
    r = front(devbox, "run", "hello", cwd=project)  # the launcher hands over: Python reads it
    assert (r.returncode, r.stdout) == (0, "from the spec, someone else\n"), r.stderr
    r = front(devbox, "run", "hello", cwd=project, extra=NO_PYTHON)  # written down again
    assert r.stdout == "from the spec, someone else\n", r.stderr
    (project / ".env").unlink()  # a missing env file is no error
    r = front(devbox, "run", "hello", cwd=project)
    assert (r.returncode, r.stdout) == (0, "from the spec, \n"), r.stderr
    spec = project / "devbox.toml"
    spec.write_text(spec.read_text().replace("echo scripted", "echo edited"))
    r = front(devbox, "run", "echo", "1", cwd=project)
    assert (r.returncode, r.stdout) == (0, "edited 1\n"), r.stderr
    (project / ".env").write_text("not a pair\n")
    r = front(devbox, "run", "hello", cwd=project)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert ".env, line 1: not a pair is not KEY=VALUE" in r.stderr


def test_env_files_reach_a_shim_and_a_change_needs_allow(
    devbox: Devbox, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVBOX_HOME", str(devbox.store))
    devbox("allow", cwd=project, check=True)
    shim = shims.write_shims(spec_load.load_spec(project / "devbox.toml")) / "printenv"

    def printenv(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(shim), name], cwd=project, env=devbox.env(),
                              capture_output=True, text=True, timeout=900)  # fmt: skip

    r = printenv("WHO")
    assert (r.returncode, r.stdout) == (0, "the .env\n"), r.stderr
    assert printenv("GREETING").stdout == "from the spec\n", "[env] wins over the file"
    # code in the box can write .env: a shim does not take its values until allowed again
    (project / ".env").write_text("WHO=changed\n")
    r = printenv("WHO")
    assert r.returncode == 1 and not r.stdout
    assert "env file .env changed since you allowed this project" in r.stderr, r.stderr
    devbox("allow", cwd=project, check=True)
    assert printenv("WHO").stdout == "changed\n"


def test_a_shim_named_like_a_script_runs_its_command(
    devbox: Devbox, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shim's command is never a [scripts] name, even with DEVBOX_RUN_SCRIPT=1 (what the front
    says of `devbox run NAME`) in the caller's environment: through Python, then the launcher."""
    monkeypatch.setenv("DEVBOX_HOME", str(devbox.store))
    devbox("allow", cwd=project, check=True)
    shim = shims.write_shims(spec_load.load_spec(project / "devbox.toml")) / "echo"
    for _ in range(2):  # the first call checks trust in Python, the second sources the launcher
        r = subprocess.run([str(shim), "plain"], cwd=project, capture_output=True, text=True,
                           env=devbox.env({"DEVBOX_RUN_SCRIPT": "1"}), timeout=900)  # fmt: skip
        assert (r.returncode, r.stdout) == (0, "plain\n"), r.stderr


def test_a_symlinked_env_file_is_refused(devbox: Devbox, project: Path, tmp_path: Path) -> None:
    secret = tmp_path / "host.env"
    secret.write_text("WHO=host-secret\n")
    (project / ".env").unlink()
    (project / ".env").symlink_to(secret)
    r = devbox("run", "--", "printenv", "WHO", cwd=project)
    assert r.returncode == 1 and "host-secret" not in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "[env] files: " in r.stderr and ".env is a symlink" in r.stderr, r.stderr
    assert "replace it with the file itself" in r.stderr
