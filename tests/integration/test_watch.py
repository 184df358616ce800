"""`devbox watch` as a user runs it: the real watchdog observer and real builds (tier 1, root)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Devbox, MakeProject

pytestmark = pytest.mark.integration

BASE = '[box]\nname = "watched"\nbase = "debian:bookworm"\n'
WITH_JQ = BASE + '[packages]\napt = ["jq"]\n'
BROKEN = BASE + '[packages]\napt = "jq"\n'  # line 5: a string, not a list
WITH_SETUP = WITH_JQ + '[setup]\nrun = ["cat seed.txt > /etc/seed"]\ninputs = ["seed.txt"]\n'


class Output:
    """The watcher's output (stdout and stderr), read line by line by a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.fresh: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        stream = proc.stdout
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.fresh.put(line.rstrip("\n"))
        self.fresh.put(None)

    def wait_for(self, needle: str, timeout: float = 600) -> str:
        """The next line containing `needle`; fails if the watcher exits or it never comes."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.fresh.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {needle!r} in:\n" + "\n".join(self.lines)) from None
            if line is None:
                raise AssertionError(
                    f"the watcher exited ({self.proc.wait()}) before {needle!r}:\n"
                    + "\n".join(self.lines)
                )
            self.lines.append(line)
            if needle in line:
                return line

    def text(self) -> str:
        return "\n".join(self.lines)


def _save_like_an_editor(path: Path, text: str) -> None:
    """Write a new file and rename it over the old one (vim, VS Code and most editors)."""
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_watch_rebuilds_on_edits_reports_errors_and_keeps_watching(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project: Path = make_project("watch me", BASE, {"seed.txt": "one\n"})
    proc = devbox.popen(
        "watch", cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    out = Output(proc)
    try:
        out.wait_for("watched: ready (1 layers")
        out.wait_for("devbox watch: watching devbox.toml, devbox.lock")

        # A package added: the apt layer is built, and the box has it.
        _save_like_an_editor(project / "devbox.toml", WITH_JQ)
        out.wait_for("devbox watch: devbox.toml changed: rebuilding")
        out.wait_for("[2/2] apt jq: built in")
        out.wait_for("watched: ready (2 layers")
        r = devbox("run", "--", "jq", "--version", cwd=project)
        assert r.returncode == 0 and r.stdout.startswith("jq-"), r
        # something installed by hand, outside the working tree: a rebuild says it will go
        devbox("run", "--root", "--", "touch", "/opt/by-hand", cwd=project, check=True)

        # A broken edit: the error with its line; the watcher goes on.
        (project / "devbox.toml").write_text(BROKEN)
        error = out.wait_for("devbox: error in")
        assert f"{project / 'devbox.toml'}:5: packages.apt" in error, error
        out.wait_for("the build failed; still watching")
        assert proc.poll() is None
        assert "Traceback" not in out.text()

        # Fixed, with a setup step whose input is watched from now on.
        (project / "devbox.toml").write_text(WITH_SETUP)
        out.wait_for("devbox watch: devbox.toml changed: rebuilding")
        warned = out.wait_for("its writable layer will be reset")
        assert "/opt" in warned, warned
        out.wait_for("watched: ready (3 layers")
        assert devbox("run", "--", "cat", "/etc/seed", cwd=project).stdout == "one\n"

        # An input changed: its layer is rebuilt with the new content.
        _save_like_an_editor(project / "seed.txt", "two\n")
        out.wait_for("devbox watch: a setup input changed: rebuilding")
        out.wait_for("watched: ready (3 layers")
        assert devbox("run", "--", "cat", "/etc/seed", cwd=project).stdout == "two\n"
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    out.wait_for("devbox: interrupted", timeout=10)
    text = out.text()
    assert "Traceback" not in text
    # Each build writes devbox.lock; that never counts as a change (no rebuild loop), and the
    # watcher rebuilt exactly once per edit.
    assert "devbox.lock changed" not in text
    assert text.count("rebuilding") == 4, text  # jq, the broken edit, its fix, the input


def _pids_running(argv: list[str]) -> list[int]:
    """Processes (not zombies) whose command line is exactly `argv`."""
    want = "\0".join(argv) + "\0"
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "cmdline").read_text() != want:
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(proc.name))
    return found


def test_a_build_dies_with_the_watcher(devbox: Devbox, make_project: Any) -> None:
    """kill -9 of `devbox watch` mid-build: the build's tools go too (the parent-death signal,
    set without Python code in the child while the watcher's threads run), and the next build
    works."""
    marker = ["sleep", "3017.5"]  # the setup step, recognisable among the host's processes
    spec = BASE + f'[setup]\nrun = ["{" ".join(marker)}"]\n'
    project: Path = make_project("killed mid-build", spec)
    proc = devbox.popen(
        "watch", cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    out = Output(proc)
    try:
        deadline = time.monotonic() + 600
        while not _pids_running(marker):
            assert proc.poll() is None, out.text()
            assert time.monotonic() < deadline, "the setup step never started"
            time.sleep(0.2)
        proc.kill()  # the watcher alone (not its session): nothing of it can clean up
        proc.wait(timeout=10)
        deadline = time.monotonic() + 20
        while _pids_running(marker):
            assert time.monotonic() < deadline, "the build outlived the watcher"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in _pids_running(marker):
            os.kill(pid, signal.SIGKILL)
    (project / "devbox.toml").write_text(WITH_JQ)
    r = devbox("build", cwd=project)
    assert r.returncode == 0, r.stderr
