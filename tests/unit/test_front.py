"""The `devbox` front (devbox/front.sh): `devbox run [--] CMD...` execs the project's launcher
through the store's by-path index with shell builtins only; everything else goes to the Python
CLI with its arguments unchanged. Run by dash and by `bash --posix`, against a store whose index
the real writer (store.projects.write_index) made, in project paths full of awkward characters."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import devbox
from devbox.store.paths import launcher_index, launcher_path
from devbox.store.projects import write_index
from tests.front_cases import AWKWARD_ARGV, RUN_CASES, RunCase

FRONT = Path(devbox.__file__).with_name("front.sh")
SHELLS = {"dash": ["dash"], "bash --posix": ["bash", "--posix"]}
# a launcher's interface: LAUNCHER CMD [ARG...], stdio and exit status passed through
LAUNCHER = '#!/bin/sh\nprintf "launcher %s\\n" "$PWD"; printf "[%s]" "$@"; echo; exit 7\n'
CLI = '#!/bin/sh\nprintf "cli"; for a; do printf " [%s]" "$a"; done; echo; exit 5\n'
AWKWARD = ["plain", "with space", 'it\'s "quoted"', "star * ?[ab]", "ünï cødé", "new\nline $x \\"]


def script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


class Front:
    """The front copied into a bin dir with a recording devbox-cli, and a store to find."""

    def __init__(self, root: Path, shell: Sequence[str]) -> None:
        self.root = root
        self.shell = list(shell)
        self.bin = root / "bin"
        self.path = self.bin / "devbox"
        self.bin.mkdir(parents=True)
        shutil.copy(FRONT, self.path)
        script(self.bin / "devbox-cli", CLI)
        self.store = root / "store"

    def project(self, name: str, *, launcher: bool = True) -> Path:
        project = self.root / "projects" / name
        project.mkdir(parents=True)
        (project / "devbox.toml").write_text("")
        if launcher:
            target = script(launcher_path(project, self.store), LAUNCHER)
            assert write_index(project, self.store, target)
        return project

    def env(self, **extra: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DEVBOX_LAUNCHER_SPEC", "PWD")}
        env["DEVBOX_HOME"] = str(self.store)
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def __call__(
        self, *args: str, cwd: Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(env or self.env())
        env.setdefault("PWD", str(cwd))  # as the calling shell would
        return subprocess.run(
            [*self.shell, str(self.path), *args], cwd=cwd, env=env,
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip


@pytest.fixture(params=sorted(SHELLS))
def front(request: pytest.FixtureRequest, tmp_path: Path) -> Front:
    if not shutil.which(SHELLS[request.param][0]):
        pytest.skip(f"no {request.param} here")
    return Front(tmp_path, SHELLS[request.param])


def launched(cwd: Path | str, *argv: str) -> tuple[int, str]:
    return 7, f"launcher {cwd}\n" + "".join(f"[{a}]" for a in argv) + "\n"


def cli(*argv: str) -> tuple[int, str]:
    return 5, "cli" + "".join(f" [{a}]" for a in argv) + "\n"


def result(r: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    return r.returncode, r.stdout


@pytest.mark.parametrize("case", RUN_CASES, ids=lambda c: c.id)
def test_the_run_rule(front: Front, case: RunCase) -> None:
    """fastpath's rule, in sh (tests/front_cases.py, run through fastpath in test_fastpath.py):
    the launcher for exactly `run [--] CMD...`, Python's CLI with the arguments unchanged for
    anything else."""
    project = front.project("p")
    r = front(*case.args, cwd=project, env=front.env(**case.env))
    want = cli(*case.args) if case.command is None else launched(project, *case.command)
    assert result(r) == want


@pytest.mark.parametrize("name", AWKWARD)
def test_run_execs_the_launcher_from_the_project_and_below(front: Front, name: str) -> None:
    project = front.project(name)
    sub = project / "sub dir" / name
    sub.mkdir(parents=True)
    argv = AWKWARD_ARGV
    assert result(front("run", "--", *argv, cwd=project)) == launched(project, *argv)
    assert result(front("run", *argv, cwd=sub)) == launched(sub, *argv)


def test_a_symlinked_project_finds_its_real_paths_entry(front: Front) -> None:
    project = front.project("real")
    link = front.root / "link to it"
    link.symlink_to(project)
    env = front.env(PWD=str(link))  # as a shell that cd'ed through the link passes it
    r = front("run", "--", "true", cwd=link, env=env)
    assert result(r) == launched(link, "true"), "the launcher gets PWD as it was"


def test_the_nearest_spec_wins_even_without_a_launcher(front: Front) -> None:
    outer = front.project("outer")
    inner = outer / "inner"
    inner.mkdir()
    (inner / "devbox.toml").write_text("")
    assert result(front("run", "--", "true", cwd=inner)) == cli("run", "--", "true")
    (inner / "devbox.toml").unlink()
    (inner / "devbox.toml").mkdir()  # a directory is not a spec
    assert result(front("run", "--", "true", cwd=inner)) == launched(inner, "true")


def test_outside_any_project_and_at_the_root_it_is_python(front: Front) -> None:
    front.project("p")
    assert result(front("run", "--", "true", cwd=front.root)) == cli("run", "--", "true")
    if not Path("/devbox.toml").exists():
        assert result(front("run", "--", "true", cwd=Path("/"))) == cli("run", "--", "true")


def test_a_deleted_working_directory_goes_to_python(front: Front) -> None:
    project = front.project("p")
    (project / "gone").mkdir()
    r = subprocess.run(
        ["sh", "-c", 'cd gone && rmdir ../gone && exec "$@"', "sh",
         *front.shell, str(front.path), "run", "--", "true"],
        cwd=project, env=front.env(), capture_output=True, text=True,
    )  # fmt: skip
    assert result(r) == cli("run", "--", "true")


def test_no_usable_launcher_goes_to_python(front: Front) -> None:
    project = front.project("p")
    launcher = launcher_path(project, front.store)
    launcher.chmod(0o644)
    if not os.access(launcher, os.X_OK):
        assert result(front("run", "--", "true", cwd=project)) == cli("run", "--", "true")
    launcher.unlink()  # the entry dangles (a project gc dropped)
    assert result(front("run", "--", "true", cwd=project)) == cli("run", "--", "true")
    plain = front.project("no launcher yet", launcher=False)
    assert result(front("run", "--", "true", cwd=plain)) == cli("run", "--", "true")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_nothing_another_user_owns_is_run(front: Front) -> None:
    """The store, the index entry's directory and the launcher must be the user's own: a store
    or an entry another user made (in a shared DEVBOX_HOME) goes to Python, which refuses it."""
    project = front.project("p")
    launcher = launcher_path(project, front.store)
    entry = launcher_index(project, front.store)
    assert result(front("run", "--", "true", cwd=project)) == launched(project, "true")
    for path in (front.store, entry.parent, launcher):
        os.chown(path, 65534, 65534)  # nobody's
        assert result(front("run", "--", "true", cwd=project)) == cli("run", "--", "true"), path
        os.chown(path, 0, 0)
    assert result(front("run", "--", "true", cwd=project)) == launched(project, "true")


@pytest.mark.parametrize(
    "home", ["relative/store", "./store", "/a/../store", "/a/./store", "/a//store", "/a/store/"]
)
def test_a_devbox_home_that_python_would_normalise_goes_to_python(front: Front, home: str) -> None:
    project = front.project("p")
    r = front("run", "--", "true", cwd=project, env=front.env(DEVBOX_HOME=home))
    assert result(r) == cli("run", "--", "true")


@pytest.mark.parametrize(
    "env",
    [
        {"DEVBOX_HOME": "", "XDG_DATA_HOME": "{root}/xdg data"},
        {"DEVBOX_HOME": None, "XDG_DATA_HOME": "{root}/xdg/"},
        {"DEVBOX_HOME": None, "XDG_DATA_HOME": None, "HOME": "{root}/home"},
        {"DEVBOX_HOME": None, "XDG_DATA_HOME": "relative", "HOME": "{root}/home/"},
    ],
)
def test_the_store_is_where_python_puts_it(front: Front, env: dict[str, str | None]) -> None:
    env = {k: v if v is None else v.format(root=front.root) for k, v in env.items()}
    full = front.env(**env)
    code = "import devbox.fastpath as f; print(f.simple_store_root())"
    store = subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, check=True
    ).stdout.rstrip("\n")
    front.store = Path(store)
    project = front.project("p")
    assert result(front("run", "--", "true", cwd=project, env=full)) == launched(project, "true")


@pytest.mark.parametrize("home", [None, "", "relative"])
def test_a_home_only_platformdirs_can_use_goes_to_python(front: Front, home: str | None) -> None:
    project = front.project("p")
    env = front.env(DEVBOX_HOME=None, XDG_DATA_HOME=None, HOME=home)
    assert result(front("run", "--", "true", cwd=project, env=env)) == cli("run", "--", "true")


def test_a_symlinked_front_finds_the_cli_beside_its_target(tmp_path: Path) -> None:
    """pipx links ~/.local/bin/devbox to its venv's bin/devbox."""
    real = Front(tmp_path / "venv", ["dash"])
    link = tmp_path / "local bin" / "devbox"
    link.parent.mkdir()
    link.symlink_to(real.path)
    project = real.project("p")
    r = subprocess.run([str(link), "status"], cwd=project, capture_output=True, text=True)
    assert result(r) == cli("status")


def test_without_a_cli_beside_it_it_runs_python3_m_devbox(tmp_path: Path) -> None:
    alone = tmp_path / "alone" / "devbox"
    alone.parent.mkdir()
    shutil.copy(FRONT, alone)
    script(tmp_path / "fake" / "python3", '#!/bin/sh\nprintf "[%s]" "$@"; echo; exit 4\n')
    env = {**os.environ, "PATH": f"{tmp_path / 'fake'}:{os.environ['PATH']}"}
    r = subprocess.run([str(alone), "ls", "a b"], capture_output=True, text=True, env=env)
    assert result(r) == (4, "[-m][devbox][ls][a b]\n")


def test_the_fast_path_starts_no_other_process(front: Front, tmp_path: Path) -> None:
    """strace: the only program run is the front's shell, which sources the launcher (no second
    sh start-up), with no fork."""
    if not shutil.which("strace"):
        pytest.skip("no strace here")
    project = front.project("with space")
    trace = tmp_path / "trace"
    argv = [
        "strace", "-f", "-qq", "-s", "4096", "-o", str(trace),
        "-e", "trace=execve,clone,clone3,fork,vfork",
        *front.shell, str(front.path), "run", "--", "true",
    ]  # fmt: skip
    r = subprocess.run(argv, cwd=project, env=front.env(), capture_output=True, text=True)
    if "ptrace" in r.stderr or "Operation not permitted" in r.stderr:
        pytest.skip(f"strace cannot trace here: {r.stderr.strip()}")
    assert result(r) == launched(project, "true")
    calls = [line.split(None, 1)[1] for line in trace.read_text().splitlines()]
    programs = [c.split('"')[1] for c in calls if c.startswith("execve(") and "= 0" in c]
    assert programs == [shutil.which(front.shell[0])], calls
    assert not [c for c in calls if not c.startswith("execve(")], calls


def test_the_installed_front_is_this_one() -> None:
    """`devbox` beside this interpreter (scripts/setup.sh reinstalls when they differ)."""
    installed = Path(sys.executable).with_name("devbox")
    assert installed.exists(), "devbox is not installed beside this interpreter: ./scripts/setup.sh"
    assert installed.read_bytes() == FRONT.read_bytes()
    assert os.access(installed, os.X_OK)
    assert os.access(installed.with_name("devbox-cli"), os.X_OK)


@pytest.mark.parametrize("outer", [None, "1"])
def test_the_launcher_is_told_whether_the_first_word_may_name_a_script(
    front: Front, outer: str | None
) -> None:
    """`devbox run NAME` (no `--`): DEVBOX_RUN_SCRIPT=1 for the launcher, which then runs NAME's
    [scripts] entry if there is one; `devbox run -- CMD`: empty, whatever the caller's was."""
    project = front.project("p")
    script(
        launcher_path(project, front.store), '#!/bin/sh\necho "[${DEVBOX_RUN_SCRIPT-}]"; exit 0\n'
    )
    env = front.env(DEVBOX_RUN_SCRIPT=outer)
    assert result(front("run", "test", "-x", cwd=project, env=env)) == (0, "[1]\n")
    assert result(front("run", "--", "test", cwd=project, env=env)) == (0, "[]\n")
