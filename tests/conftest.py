"""Shared fixtures. No test touches the real store: DEVBOX_HOME always points at a temp dir.

Integration tests share one store for the whole session, so the bookworm base is bootstrapped
by mmdebstrap once and every later box reuses it (as two users' projects would).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Devbox, MakeProject, need_root_tools, write_project


@pytest.fixture(autouse=True)
def _no_real_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVBOX_HOME", str(tmp_path / "devbox-home"))
    # idle boxes linger 2 s, not a minute: the suite's many boxes go soon after their tests
    # (tests of lingering set their own)
    monkeypatch.setenv("DEVBOX_LINGER", "2")


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture
def devbox(shared_store: Path) -> Devbox:
    need_root_tools()
    return Devbox(shared_store)


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    def make(name: str, spec: str, files: dict[str, str] | None = None) -> Path:
        return write_project(tmp_path / name, spec, files)

    return make
