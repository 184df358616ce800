"""The per-project launcher: `devbox run` execs it, shims will; it must behave exactly
as the Python path does, and hand over to it whenever anything it was made from changed."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from devbox.resources import PACKAGE
from devbox.store.paths import launcher_path, project_id
from tests.helpers import LAUNCHER_SPEC, Devbox, MakeProject, launch

pytestmark = pytest.mark.integration


@pytest.fixture
def fast(devbox: Devbox, make_project: MakeProject) -> Path:
    project: Path = make_project("fast project ü", LAUNCHER_SPEC, {"seed.txt": "seed-1\n"})
    devbox("run", "--", "true", cwd=project, check=True)
    return project


def test_run_writes_a_launcher_that_runs_commands_in_the_box(devbox: Devbox, fast: Path) -> None:
    assert launcher_path(fast, devbox.store).is_file()
    sub = fast / "sub dir"
    sub.mkdir()
    r = launch(devbox, fast, "sh", "-c", 'pwd; cat /etc/seeded; echo "$GREETING"; exit 5', cwd=sub)
    assert r.returncode == 5, r.stderr
    assert r.stdout.splitlines() == [str(sub), "seed-1", "hello"]
    r = launch(devbox, fast, "tr", "a-z", "A-Z", input="piped\n")
    assert (r.returncode, r.stdout) == (0, "PIPED\n")


def test_devbox_run_goes_through_the_launcher(devbox: Devbox, fast: Path) -> None:
    path = launcher_path(fast, devbox.store)
    original = path.read_text()
    path.write_text('#!/bin/sh\necho "launched: $*"\n')
    try:
        r = devbox("run", "--", "echo", "x y", cwd=fast, check=True)
        assert r.stdout == "launched: echo x y\n"
        r = devbox("run", "--root", "--", "id", "-u", cwd=fast, check=True)
        assert r.stdout == "0\n", "options take the Python path"
    finally:
        path.write_text(original)


def test_same_environment_as_the_python_path(devbox: Devbox, fast: Path) -> None:
    extra = {"TZ": "Europe/Paris", "NO_COLOR": "", "TERM": "xterm", "HOST_ONLY": "leak?"}
    script = "env | sort; umask; id"
    via_launcher = launch(devbox, fast, "sh", "-c", script, extra=extra)
    via_python = devbox(
        "run", "--", "sh", "-c", script, cwd=fast,
        env={**extra, "DEVBOX_LAUNCHER_SPEC": str(fast / "devbox.toml")},
    )  # fmt: skip
    assert via_launcher.returncode == via_python.returncode == 0, via_launcher.stderr
    assert "TZ=Europe/Paris" in via_launcher.stdout
    assert "NO_COLOR=\n" in via_launcher.stdout
    assert "HOST_ONLY" not in via_launcher.stdout
    assert via_launcher.stdout == via_python.stdout


def test_spec_edits_hand_over_and_rewrite_the_launcher(devbox: Devbox, fast: Path) -> None:
    path = launcher_path(fast, devbox.store)
    before = path.read_text()
    spec = fast / "devbox.toml"
    spec.write_text(spec.read_text().replace('"hello"', '"edited"'))
    r = launch(devbox, fast, "sh", "-c", 'echo "$GREETING"')
    assert (r.returncode, r.stdout) == (0, "edited\n"), r.stderr
    assert path.read_text() != before
    spec.write_text(spec.read_text().replace('["libxml2-utils"]', '["libxml2-utils", "jq"]'))
    r = launch(devbox, fast, "jq", "--version")
    assert r.returncode == 0, r.stderr
    assert "building fast first" in r.stderr


def test_setup_input_edits_hand_over(devbox: Devbox, fast: Path) -> None:
    (fast / "seed.txt").write_text("seed-2\n")
    assert launch(devbox, fast, "cat", "/etc/seeded").stdout == "seed-2\n"


def test_a_deleted_layer_hands_over_and_is_rebuilt(devbox: Devbox, fast: Path) -> None:
    info = json.loads((devbox.store / "projects" / project_id(fast) / "project.json").read_text())
    top = info["stack"][-1]
    layer = devbox.store / "layers" / top
    subprocess.run(["rm", "-rf", str(layer)], check=True)
    r = launch(devbox, fast, "cat", "/etc/seeded")
    assert (r.returncode, r.stdout) == (0, "seed-1\n"), r.stderr
    assert layer.is_dir()


def test_sessions_share_one_box_and_it_stops_after_the_last(devbox: Devbox, fast: Path) -> None:
    """...once its linger (2 s in the tests) is over."""
    run_dir = devbox.store / "projects" / project_id(fast) / "run"
    holder = subprocess.Popen(
        [str(launcher_path(fast, devbox.store)), "sh", "-c", "echo up > /etc/shared; sleep 60"],
        cwd=fast, env=devbox.env(), stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / "supervisor.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = (run_dir / "supervisor.pid").read_text().strip()
        for _ in range(100):
            r = launch(devbox, fast, "cat", "/etc/shared")
            if r.stdout == "up\n":
                break
            time.sleep(0.1)
        assert r.stdout == "up\n", r.stderr
        assert (run_dir / "supervisor.pid").read_text().strip() == pid, "joined, not restarted"
    finally:
        holder.terminate()
        holder.wait()
    deadline = time.monotonic() + 30

    def gone() -> bool:
        if (run_dir / "supervisor.pid").exists():
            return False
        try:  # it unmounts after removing its pid file; a zombie is gone too
            return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
        except OSError:
            return True

    while not gone() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(), "the supervisor outlived its last session and its linger"


def test_outside_the_project_the_command_starts_in_the_workdir(
    devbox: Devbox, fast: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = launch(devbox, fast, "pwd", cwd=elsewhere)
    assert (r.returncode, r.stdout) == (0, f"{fast}\n"), r.stderr


def test_a_fresh_launcher_does_not_hand_over(devbox: Devbox, fast: Path) -> None:
    """A hand-over rewrites the launcher (a new generation of stamps): none may happen here."""
    path = launcher_path(fast, devbox.store)
    before = path.read_text()
    for _ in range(2):
        assert launch(devbox, fast, "true").returncode == 0
    assert path.read_text() == before


@pytest.mark.parametrize("rel", ["store/paths.py", "sandbox/supervisor.sh.in"])
def test_an_edit_to_devbox_code_it_is_made_from_hands_over(
    devbox: Devbox, fast: Path, rel: str
) -> None:
    """In an editable install, as here: the store layout's module (imported by the launcher's
    own, but not among its sources by name) and a script template."""
    path = launcher_path(fast, devbox.store)
    before = path.read_text()
    source = PACKAGE / rel
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, time.time_ns()))  # as an edit would: it is now
    try:
        assert launch(devbox, fast, "true").returncode == 0
        assert path.read_text() != before, "handed over: a new launcher"
    finally:
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
