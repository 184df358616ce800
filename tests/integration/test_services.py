"""`devbox up`, `down`, `services`, `logs` with a real redis-server from Debian in a box, under
a real supervisord: readiness, restarts, failures, a killed `devbox up`, a simulated reboot."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from devbox.store.paths import ProjectPaths, Store
from tests.helpers import Devbox, write_project
from tests.integration.services import (
    REDIS_SPEC,
    free_port,
    processes,
    redis,
    services_json,
    wait_for,
)


@pytest.fixture
def project(devbox: Devbox, tmp_path: Path) -> Iterator[tuple[Path, int]]:
    port = free_port()
    extra = """
[services.ticker]
command = "while :; do redis-cli -p $REDIS_PORT incr ticks >/dev/null; sleep 0.2; done"
depends_on = ["cache"]
ready = "test \\"$(redis-cli -p $REDIS_PORT get ticks)\\" -ge 1"
stop_timeout = 2
"""
    proj = write_project(tmp_path / "proj", REDIS_SPEC.format(port=port, extra=extra))
    yield proj, port
    devbox("down", cwd=proj)


def test_up_brings_both_to_ready_and_down_leaves_no_process(
    devbox: Devbox, project: tuple[Path, int]
) -> None:
    proj, port = project
    r = devbox("up", cwd=proj)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"cache: ready on 127.0.0.1:{port} (")
    assert lines[1].startswith("ticker: ready (")  # after cache: it depends on it
    assert "+PONG" in redis(port, "PING")
    assert redis(port, "SET", "kept", "across-restarts").startswith("+OK")
    state = services_json(devbox, proj)
    assert {s["state"] for s in state.values()} == {"running"}
    assert state["cache"]["ready"] and state["cache"]["listen"] == f"127.0.0.1:{port}"
    pid = state["cache"]["pid"]
    assert "redis-server" in Path(f"/proc/{pid}/cmdline").read_text()
    assert (proj / ".devbox/data/cache").is_dir()
    assert (proj / ".devbox/.gitignore").read_text() == "*\n"
    status = devbox("status", cwd=proj).stdout
    assert "services: running: cache, ticker" in status

    r = devbox("down", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["ticker: stopped", "cache: stopped"]  # dependents first
    assert processes(str(port)) == [] and processes(str(proj)) == []
    state = services_json(devbox, proj)
    assert {s["state"] for s in state.values()} == {"stopped"}

    assert devbox("up", cwd=proj).returncode == 0
    assert redis(port, "GET", "kept") == "$15\r\nacross-restarts\r\n"  # the data was kept
    r = devbox("down", "--volumes", cwd=proj)
    assert "cache: data deleted" in r.stdout and not (proj / ".devbox/data/cache").exists()


def test_a_killed_service_is_restarted_and_counted(
    devbox: Devbox, project: tuple[Path, int]
) -> None:
    proj, _ = project
    assert devbox("up", "cache", cwd=proj).returncode == 0  # alone: nothing depends the other way
    before = services_json(devbox, proj)
    assert before["ticker"]["state"] == "stopped" and before["cache"]["restarts"] == 0
    os.kill(before["cache"]["pid"], signal.SIGKILL)

    def back() -> bool:
        now = services_json(devbox, proj)["cache"]
        return bool(now["ready"]) and now["pid"] not in (None, before["cache"]["pid"])

    assert wait_for(back, timeout=30)
    assert services_json(devbox, proj)["cache"]["restarts"] == 1
    table = devbox("services", cwd=proj).stdout.splitlines()
    assert table[0].split() == ["NAME", "STATE", "PID", "UPTIME", "RESTARTS", "READY", "LISTEN"]
    assert table[1].split()[4] == "1"
    r = devbox("logs", "cache", "-n", "200", cwd=proj)
    assert r.stdout.count("Ready to accept connections") >= 2


def test_one_that_fails_at_once_stops_after_its_backoff_with_its_last_lines(
    devbox: Devbox, tmp_path: Path
) -> None:
    port = free_port()
    extra = """
[services.broken]
command = "echo broken-marker-$DEVBOX_SERVICE; exit 3"
"""
    proj = write_project(tmp_path / "p", REDIS_SPEC.format(port=port, extra=extra))
    began = time.monotonic()
    r = devbox("up", "broken", cwd=proj)
    took = time.monotonic() - began
    assert r.returncode == 1
    assert "broken kept failing at start and was given up" in r.stderr
    assert "| broken-marker-broken" in r.stderr  # its last log lines
    assert "Traceback" not in r.stderr
    assert took > 5  # retried with backoff (1 + 2 + 3 s) before giving up
    assert processes(str(proj)) == []  # a failed up leaves nothing running


def test_clear_errors_and_nothing_left_running(devbox: Devbox, tmp_path: Path) -> None:
    port = free_port()
    proj = write_project(tmp_path / "p", REDIS_SPEC.format(port=port, extra=""))
    with socket.socket() as taken:  # the port is taken: by whom is said
        taken.bind(("127.0.0.1", port))
        taken.listen()
        r = devbox("up", cwd=proj)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"cache: port {port} on 127.0.0.1 is taken by" in r.stderr
    assert f"(pid {os.getpid()})" in r.stderr
    assert processes(str(proj)) == [] and processes(f"--port {port}") == []

    missing = REDIS_SPEC.format(port=port, extra="").replace(
        "exec redis-server", "exec no-such-server-xyz"
    )
    write_project(proj, missing)
    r = devbox("up", cwd=proj)
    assert r.returncode == 1 and "no-such-server-xyz: not found" in r.stderr
    assert processes(str(proj)) == []

    broken_box = REDIS_SPEC.format(port=port, extra='box = "db"\n')
    write_project(proj, broken_box, {"db/devbox.toml": '[box]\nbase = "debian:bookworm"\n'
                                     '[packages]\napt = ["no-such-package-xyz"]\n'})  # fmt: skip
    r = devbox("up", cwd=proj)
    assert r.returncode == 1 and "no-such-package-xyz" in r.stderr and "Traceback" not in r.stderr
    assert processes(str(proj)) == []

    write_project(proj, REDIS_SPEC.format(port=port, extra="[services.x]\nready = 5\n"))
    r = devbox("up", cwd=proj)
    assert r.returncode == 1
    assert f"{proj}/devbox.toml:" in r.stderr and "services.x" in r.stderr


def test_a_killed_up_and_a_reboot_leave_the_truth_and_up_recovers(
    devbox: Devbox, tmp_path: Path
) -> None:
    port = free_port()
    flag = tmp_path / "proj" / "started"
    extra = """
[services.slow]
command = "sleep 3; touch started; exec sleep 1001"
ready = "test -e started"
"""
    proj = write_project(tmp_path / "proj", REDIS_SPEC.format(port=port, extra=extra))
    assert devbox("build", cwd=proj).returncode == 0
    up = devbox.popen("up", cwd=proj, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: bool(processes("sleep 3; touch started")), timeout=60)
        up.kill()  # kill -9 of devbox up, mid-start
        up.wait()
        state = services_json(devbox, proj)
        assert state["cache"]["state"] == "running" and state["slow"]["state"] in (
            "starting", "running")  # fmt: skip
        r = devbox("up", cwd=proj)  # recovers: waits for what was starting
        assert r.returncode == 0, r.stderr
        assert "slow: ready" in r.stdout and flag.exists()

        # a reboot: every process of the services dies at once, supervisord first
        state_dir = str(ProjectPaths(Store(devbox.store).project_dir(proj)).services)
        victims = processes(state_dir) + processes("sleep 1001") + processes(f"--port {port}")
        for pid, _ in victims:
            _kill(pid)
        assert wait_for(lambda: not processes(f"--port {port}") and not processes("sleep 1001"))
        state = services_json(devbox, proj)
        assert {s["state"] for s in state.values()} == {"stopped"}
        assert all(s["pid"] is None for s in state.values())
        r = devbox("up", cwd=proj)
        assert r.returncode == 0, r.stderr
        assert "+PONG" in redis(port, "PING")
    finally:
        if up.poll() is None:
            up.kill()
        devbox("down", cwd=proj)
    assert processes(str(proj)) == [] and processes(f"--port {port}") == []


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_a_service_that_ignores_its_stop_signal_is_killed_after_its_timeout(
    devbox: Devbox, tmp_path: Path
) -> None:
    port = free_port()
    extra = """
[services.stubborn]
command = "trap '' TERM; echo ignoring; while :; do sleep 0.1; done"
stop_timeout = 1
stop_signal = "TERM"
"""
    proj = write_project(tmp_path / "p", REDIS_SPEC.format(port=port, extra=extra))
    assert devbox("up", "stubborn", cwd=proj).returncode == 0
    began = time.monotonic()
    r = devbox("down", cwd=proj)
    assert r.returncode == 0 and "stubborn: stopped" in r.stdout
    assert 1 <= time.monotonic() - began < 8
    assert processes(str(proj)) == [] and processes("trap '' TERM") == []


def test_logs_follow_and_reset_stops_services(devbox: Devbox, project: tuple[Path, int]) -> None:
    proj, port = project
    assert devbox("up", cwd=proj).returncode == 0
    follow = devbox.popen("logs", "-f", "-n", "0", cwd=proj, stdout=subprocess.PIPE)
    try:
        time.sleep(0.5)
        assert redis(port, "SAVE").startswith("+OK")
        assert follow.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("DB saved on disk" in x for x in seen):
            if select.select([follow.stdout], [], [], 1)[0]:
                seen.append(follow.stdout.readline())
            else:  # logs -f may not have looked at the log yet (a slow start): save again
                assert redis(port, "SAVE").startswith("+OK")
        assert any(x.startswith("cache  | ") and "DB saved on disk" in x for x in seen), seen
    finally:
        follow.terminate()
        follow.wait()
    r = devbox("reset", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert "cache: stopped" in r.stdout or "cache" in r.stdout
    assert processes(f"--port {port}") == []


def test_shell_and_the_hook_say_which_services_run(
    devbox: Devbox, project: tuple[Path, int]
) -> None:
    proj, _ = project
    devbox("build", cwd=proj, check=True)  # the lock written before it is allowed
    devbox("allow", cwd=proj, check=True)
    hook = devbox("_hook-env", "bash", str(proj / "devbox.toml"), cwd=proj)
    assert hook.returncode == 0 and "services up" not in hook.stderr  # none runs yet
    assert devbox("up", "cache", cwd=proj).returncode == 0
    hook = devbox("_hook-env", "bash", str(proj / "devbox.toml"), cwd=proj)
    assert "devbox: services up: cache (`devbox services`, `devbox down`)" in hook.stderr
    argv = devbox.argv("shell")
    child = pexpect.spawn(
        argv[0], argv[1:], cwd=str(proj), env=devbox.env({"TERM": "dumb"}),
        encoding="utf-8", timeout=120,
    )  # fmt: skip
    child.expect("services up: cache")
    child.sendline("exit 3")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3


def test_two_projects_side_by_side_and_gc_stops_a_deleted_ones(
    devbox: Devbox, tmp_path: Path
) -> None:
    one, two = free_port(), free_port()
    first = write_project(tmp_path / "one", REDIS_SPEC.format(port=one, extra=""))
    second = write_project(tmp_path / "two", REDIS_SPEC.format(port=two, extra=""))
    try:
        up = pexpect.spawn(*_argv(devbox, "up"), cwd=str(first), env=devbox.env(), timeout=300,
                           encoding="utf-8")  # fmt: skip
        up.expect(pexpect.EOF)  # on a terminal, then the terminal goes (a hang-up)
        up.close()
        assert up.exitstatus == 0
        assert devbox("up", cwd=second).returncode == 0
        assert "+PONG" in redis(one, "PING") and "+PONG" in redis(two, "PING")  # the same server
        subprocess.run(["rm", "-rf", str(first)], check=True)  # the project is deleted
        r = devbox("gc", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: processes(f"--port {one}") == [])
        assert "+PONG" in redis(two, "PING")  # the other project's is untouched
    finally:
        devbox("down", cwd=second)


def _argv(devbox: Devbox, *args: str) -> tuple[str, list[str]]:
    argv = devbox.argv(*args)
    return argv[0], argv[1:]
