"""`devbox watch`'s pure parts: which paths matter, what is watched, and when content changed."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from devbox.commands.watch import Targets, sources


def _project(tmp_path: Path) -> Path:
    p = tmp_path / "proj"
    (p / "reqs" / "sub").mkdir(parents=True)
    (p / "devbox.toml").write_text('[box]\nbase = "debian:bookworm"\n')
    (p / "seed.txt").write_text("1\n")
    (p / "reqs" / "sub" / "a.txt").write_text("a\n")
    return p


def test_what_concerns_the_watcher(tmp_path: Path) -> None:
    p = _project(tmp_path)
    t = Targets(p / "devbox.toml", ("seed.txt", "reqs", "later/deep/x.txt"))
    assert t.concerns(p / "devbox.toml")
    assert t.concerns(p / "devbox.lock")
    assert t.concerns(p / "seed.txt")
    assert t.concerns(p / "reqs" / "sub" / "a.txt")  # in an input directory
    assert t.concerns(p / "later")  # on the way to a missing input
    assert t.concerns(p / "later" / "deep" / "x.txt")
    assert not t.concerns(p / ".devbox.lock.new")  # the lock's temp file
    assert not t.concerns(p / "devbox.toml~")  # an editor's backup
    assert not t.concerns(p / "src" / "main.c")
    assert not t.concerns(p)  # the project directory itself
    assert not t.concerns(tmp_path)


def test_directories_watched(tmp_path: Path) -> None:
    p = _project(tmp_path)
    t = Targets(p / "devbox.toml", ("seed.txt", "reqs", "reqs/sub/a.txt", "later/deep/x.txt"))
    assert t.directories() == {
        p: False,  # spec, lock, seed.txt, and where `later` will appear
        p / "reqs": True,
        p / "reqs" / "sub": False,
    }


def test_sources_change_with_content_only(tmp_path: Path) -> None:
    p = _project(tmp_path)
    t = Targets(p / "devbox.toml", ("seed.txt", "reqs"))
    first = sources(t)
    assert sources(t) == first
    (p / "devbox.lock").write_text("written by a build\n")
    (p / "unrelated.txt").write_text("x\n")
    (p / "seed.txt").touch()
    assert sources(t) == first
    (p / "seed.txt").write_text("2\n")
    second = sources(t)
    assert second[0] == first[0] and second[1] != first[1]
    (p / "reqs" / "sub" / "b.txt").write_text("new file in an input directory\n")
    assert sources(t)[1] != second[1]
    (p / "devbox.toml").write_text('[box]\nbase = "debian:trixie"\n')
    assert sources(t)[0] != first[0]
    (p / "devbox.toml").unlink()
    assert sources(t)[0] == "missing"


def test_a_missing_input_hashes_as_missing_until_it_appears(tmp_path: Path) -> None:
    p = _project(tmp_path)
    t = Targets(p / "devbox.toml", ("later.txt",))
    before = sources(t)
    (p / "later.txt").write_text("")
    assert sources(t) != before


def test_what_changed_since_the_last_build(tmp_path: Path) -> None:
    from devbox.build.progress import Display
    from devbox.commands.watch import Watcher
    from devbox.store.paths import Store

    p = _project(tmp_path)
    (p / "devbox.lock").write_text("lock 1\n")
    w = Watcher(p / "devbox.toml", Store(tmp_path / "store"), Display(), say=print)
    w.targets = Targets(p / "devbox.toml", ("seed.txt",))
    w.built_from = sources(w.targets)
    w.lock_after = (p / "devbox.lock").read_bytes()
    assert w.changed() is None
    (p / "devbox.lock").write_text("lock 1\n")  # rewritten, same content (as a build does)
    assert w.changed() is None
    (p / "devbox.lock").write_text("lock 2\n")
    assert w.changed() == "devbox.lock"
    (p / "seed.txt").write_text("changed\n")
    assert w.changed() == "a setup input"
    (p / "devbox.toml").write_text('[box]\nbase = "debian:sid"\n')
    assert w.changed() == "devbox.toml"


def test_builds_under_the_watchers_threads_fork_without_python_in_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """watchdog's observer threads run while a build forks its tools: no preexec_fn then (Python
    code in a child forked from a threaded process can deadlock)."""
    from devbox.build import progress
    from devbox.commands import watch
    from devbox.store.paths import Store

    calls: list[tuple[int, object]] = []
    real = subprocess.Popen

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append((threading.active_count(), kwargs.get("preexec_fn")))
        return real(*args, **kwargs)

    def build(spec: object, st: Store, display: progress.Display) -> list[object]:
        progress.run_logged(["/bin/sh", "-c", "echo step"], log=st.logs / "b.log",
                            display=display, label="step")  # fmt: skip
        return []

    def say(msg: str) -> None:
        if msg.startswith("watching"):
            raise KeyboardInterrupt  # built once: enough

    monkeypatch.setattr(subprocess, "Popen", spy)
    monkeypatch.setattr(watch, "build_box", build)
    p = _project(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        watch.watch(p / "devbox.toml", Store(tmp_path / "store"), progress.Display(), say=say)
    assert len(calls) == 1
    threads, preexec_fn = calls[0]
    assert threads > 1  # the observer's
    assert preexec_fn is None
