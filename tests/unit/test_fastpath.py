"""The hot path of `devbox run`: argument shape, spec lookup, store root, project id."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devbox import fastpath
from devbox.store import paths
from tests.front_cases import RUN_CASES, RunCase


@pytest.mark.parametrize("case", RUN_CASES, ids=lambda c: c.id)
def test_the_run_rule(case: RunCase, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Exactly `run [--] CMD...`, not handed over by a launcher, execs the launcher: the rule the
    sh front shares (tests/front_cases.py, run through the front in test_front.py)."""
    project = tmp_path / "p"
    project.mkdir()
    (project / "devbox.toml").write_text("")
    monkeypatch.chdir(project)
    monkeypatch.setenv("DEVBOX_HOME", str(tmp_path / "store"))
    monkeypatch.delenv(fastpath.HANDOVER_ENV, raising=False)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    launcher = str(paths.launcher_path(project, tmp_path / "store"))
    os.makedirs(os.path.dirname(launcher), mode=0o700)
    Path(launcher).touch(mode=0o700)
    execs: list[tuple[str, list[str]]] = []
    named: list[str | None] = []

    def execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        execs.append((path, list(argv)))
        named.append(env.get(fastpath.SCRIPT_ENV))

    monkeypatch.setattr(os, "execve", execve)
    fastpath.exec_launcher(list(case.args))
    assert execs == ([] if case.command is None else [(launcher, [launcher, *case.command])])
    # without `--`, the first word may name a [scripts] entry: the launcher is told so
    if execs:
        assert named == (["1"] if case.args[1] != "--" else [None])


def test_find_project_walks_up(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "devbox.toml").write_text("")
    deep = tmp_path / "p" / "a" / "b"
    deep.mkdir(parents=True)
    assert fastpath.find_project(str(deep)) == str(tmp_path / "p")
    (tmp_path / "p" / "a" / "devbox.toml").mkdir()  # a directory is not a spec
    assert fastpath.find_project(str(deep)) == str(tmp_path / "p")
    assert fastpath.find_project(str(tmp_path)) is None


def test_project_id_is_sha256_of_the_real_path(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    want = hashlib.sha256(os.path.realpath(tmp_path / "real").encode()).hexdigest()[:16]
    assert fastpath.project_id(str(tmp_path / "link")) == want
    assert paths.project_id(tmp_path / "real") == want


@pytest.mark.parametrize(
    "env",
    [
        {"HOME": "/home/alice"},
        {"HOME": "/home/alice", "XDG_DATA_HOME": "/data/x"},
        {"HOME": "/home/alice", "XDG_DATA_HOME": "relative/x"},
        {"HOME": "/home/alice", "XDG_DATA_HOME": ""},
    ],
)
def test_store_root_agrees_with_platformdirs(env: dict[str, str]) -> None:
    code = (
        "import platformdirs, devbox.fastpath as f;"
        "print(platformdirs.user_data_dir('devbox', appauthor=False));"
        "print(f.simple_store_root())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env={**env, "PATH": os.environ["PATH"]},
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert out[0] == out[1]


def test_devbox_home_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEVBOX_HOME", str(tmp_path / "s"))
    assert fastpath.simple_store_root() == str(tmp_path / "s")
    assert paths.store_root() == tmp_path / "s"
    project = tmp_path / "proj"
    assert paths.launcher_path(project) == (
        tmp_path / "s" / "projects" / paths.project_id(project) / "launcher"
    )


@pytest.mark.parametrize(
    ("home", "want"),
    [
        ("{tmp}/x/../y", "{tmp}/y"),
        ("{tmp}/./y/", "{tmp}/y"),
        ("{tmp}//y", "{tmp}/y"),
        ("rel/../y", "{cwd}/y"),
        ("~/y/..", "{home}"),
    ],
)
def test_every_root_takes_devbox_home_normalised_alike(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: str, want: str
) -> None:
    """The store and the state dir are one tree, however DEVBOX_HOME is spelled: `..` taken
    lexically by one and through the kernel by the other (x a symlink) would part them."""
    fake_home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(fake_home))
    monkeypatch.chdir(tmp_path)
    fill = {"tmp": str(tmp_path), "cwd": str(tmp_path), "home": str(fake_home)}
    monkeypatch.setenv("DEVBOX_HOME", home.format(**fill))
    root = want.format(**fill)
    assert fastpath.simple_store_root() == root
    assert paths.store_root() == Path(root)
    assert paths.Store.default().root == Path(root)
    assert paths.state_root() == Path(root) / "state"


def test_exec_launcher_execs_the_projects_launcher(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = tmp_path / "proj"
    (project / "sub").mkdir(parents=True)
    (project / "devbox.toml").write_text("")
    store = tmp_path / "store"
    launcher = paths.launcher_path(project, store)
    launcher.parent.mkdir(parents=True)
    launcher.write_text('#!/bin/sh\necho "launched $# $*"\n')
    launcher.chmod(0o755)
    code = "import sys, devbox.fastpath as f; f.exec_launcher(sys.argv[1:]); print('python')"
    env = {**os.environ, "DEVBOX_HOME": str(store)}

    def run(*args: str, **extra: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", code, *args], cwd=project / "sub", env={**env, **extra},
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

    assert run("run", "--", "echo", "a b") == "launched 2 echo a b\n"
    assert run("run", "--root", "--", "id") == "python\n"
    assert run("run", "--", "x", DEVBOX_LAUNCHER_SPEC=str(project / "devbox.toml")) == "python\n"
    launcher.unlink()
    assert run("run", "--", "x") == "python\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_exec_launcher_runs_nothing_another_user_made_or_can_write(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "devbox.toml").write_text("")
    store = tmp_path / "store"
    launcher = paths.launcher_path(project, store)
    launcher.parent.mkdir(parents=True, mode=0o700)
    launcher.write_text("#!/bin/sh\necho launched\n")
    launcher.chmod(0o700)
    code = "import sys, devbox.fastpath as f; f.exec_launcher(sys.argv[1:]); print('python')"

    def run() -> str:
        return subprocess.run(
            [sys.executable, "-c", code, "run", "--", "x"], cwd=project, capture_output=True,
            env={**os.environ, "DEVBOX_HOME": str(store)}, text=True, check=True,
        ).stdout  # fmt: skip

    assert run() == "launched\n"
    for path in (store, store / "projects", launcher.parent, launcher):
        os.chown(path, 65534, 65534)  # nobody's
        assert run() == "python\n", path
        os.chown(path, 0, 0)
        mode = path.stat().st_mode
        for loose in (0o020, 0o002):
            path.chmod(mode | loose)
            assert run() == "python\n", (path, oct(loose))
        path.chmod(mode)
    assert run() == "launched\n"


def test_main_imports_nothing_heavy_before_the_fast_path() -> None:
    code = "import sys, devbox.__main__; print(' '.join(sorted(sys.modules)))"
    # without coverage's start-up hook (scripts/test measures subprocesses): its imports are not
    # devbox's
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    mods = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    heavy = {"typer", "typing", "pathlib", "dataclasses", "hashlib", "platformdirs", "traceback"}
    assert heavy.isdisjoint(mods), heavy & set(mods)


def test_index_entry_is_keyed_by_the_real_path(tmp_path: Path) -> None:
    (tmp_path / "real dir ü").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real dir ü")
    real = os.path.realpath(tmp_path / "real dir ü")
    want = f"/s/by-path{real}/.launcher"
    assert fastpath.index_entry("/s", str(tmp_path / "link")) == want
    assert paths.launcher_index(tmp_path / "link", Path("/s")) == Path(want)
    assert fastpath.index_entry("/s", "/") == "/s/by-path/.launcher"
