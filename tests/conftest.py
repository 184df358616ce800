"""Shared fixtures. No test touches the real store: DEVBOX_HOME always points at a temp dir.

Integration tests share one store for the whole session, so the bookworm base is bootstrapped
by mmdebstrap once and every later box reuses it (as two users' projects would).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_real_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVBOX_HOME", str(tmp_path / "devbox-home"))
    # idle boxes linger 2 s, not a minute: the suite's many boxes go soon after their tests
    # (tests of lingering set their own)
    monkeypatch.setenv("DEVBOX_LINGER", "2")


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@dataclass
class Devbox:
    """Runs the real `devbox` command (this checkout) as a user would."""

    store: Path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["DEVBOX_HOME"] = str(self.store)
        env.pop("DEVBOX_ACTIVE", None)
        env.update(extra or {})
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "devbox", *args]

    def __call__(
        self,
        *args: str,
        cwd: Path,
        input: str | None = None,
        env: dict[str, str] | None = None,
        check: bool = False,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.argv(*args),
            cwd=cwd,
            input=input,
            capture_output=True,
            text=True,
            env=self.env(env),
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"devbox {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def popen(self, *args: str, cwd: Path, **kw: object) -> subprocess.Popen[str]:
        return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
            self.argv(*args), cwd=cwd, env=self.env(), text=True, **kw
        )


def _need_root_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("these tests drive privilege tier 1 (root); rootless tiers are tested apart")
    missing = [
        t for t in ("bwrap", "mmdebstrap", "unshare", "nsenter", "flock") if not shutil.which(t)
    ]
    if missing:
        pytest.fail(f"missing host tools {missing}: run ./scripts/test, which installs them")


@pytest.fixture
def devbox(shared_store: Path) -> Devbox:
    _need_root_tools()
    return Devbox(shared_store)


def write_project(root: Path, spec: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "devbox.toml").write_text(spec)
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> Iterator[object]:
    made: list[Path] = []

    def make(name: str, spec: str, files: dict[str, str] | None = None) -> Path:
        p = write_project(tmp_path / name, spec, files)
        made.append(p)
        return p

    yield make


def layer_dirs(store: Path) -> set[str]:
    layers = store / "layers"
    return {p.name for p in layers.iterdir()} if layers.is_dir() else set()


def lines_of(text: str) -> Sequence[str]:
    return [line for line in text.splitlines() if line.strip()]
