"""The services core without running a service: supervisord's config, the socket's place, the
runner's plan, what `up` starts and `down` stops, substitution, uptime, logs, the cheap state."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from devbox.errors import DevboxError
from devbox.services import supervise as sv
from devbox.services.logs import tail
from devbox.services.report import uptime
from devbox.services.runner import Plan, command_pid
from devbox.services.state import live
from devbox.services.targets import dependents, port_of, service_env, wanted
from devbox.spec.load import parse_spec
from devbox.spec.model import Ready, Spec
from devbox.store.paths import ProjectPaths, Store

SPEC = """\
[box]
base = "debian:bookworm"
[env]
DB_PORT = "5433"
BASE = "/srv"
[services.web]
command = "serve"
depends_on = ["db", "cache"]
[services.cache]
command = "redis-server"
[services.db]
command = "postgres"
env = { PGPORT = "${DB_PORT}", WHERE = "${BASE}/x-${DEVBOX_SERVICE}", LATER = "${PGPORT}!" }
ready = "tcp:${DB_PORT}"
restart = "no"
stop_timeout = 3
"""


def spec(tmp_path: Path, text: str = SPEC) -> Spec:
    return parse_spec(text, tmp_path / "devbox.toml")


def test_config_starts_nothing_by_itself_and_escapes_percent(tmp_path: Path) -> None:
    files = sv.Files(tmp_path / "sv%dir")
    text = sv.config(files, [sv.Program("db", False, 3.0), sv.Program("web", True, 10.0)], "/py")
    assert f"file={tmp_path}/sv%%dir/supervisor.sock" in text
    assert "[program:db]\ncommand=/py -m devbox.services.runner " in text
    db = text.split("[program:db]")[1].split("[program:web]")[0]
    assert "autostart=false" in db and "autorestart=false" in db and "stopwaitsecs=8" in db
    web = text.split("[program:web]")[1]
    assert "autorestart=unexpected" in web and "exitcodes=0" in web
    assert "stdout_logfile_maxbytes=1048576" in web and "stdout_logfile_backups=3" in web
    with pytest.raises(DevboxError):
        sv.ini("two\nlines")


def test_a_socket_path_too_long_goes_to_a_private_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    short = sv.Files(tmp_path / "s")
    assert short.socket == tmp_path / "s" / "supervisor.sock"
    runtime = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short, as XDG_RUNTIME_DIR is
    request.addfinalizer(lambda: shutil.rmtree(runtime))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    long = sv.Files(tmp_path / ("x" * 120))
    assert long.socket.parent == runtime / "devbox" and len(str(long.socket)) < 108
    assert (runtime / "devbox").stat().st_mode & 0o777 == 0o700
    (runtime / "devbox").chmod(0o777)  # not private: refused, not used
    with pytest.raises(DevboxError, match="not a private directory"):
        _ = long.socket


def test_plan_round_trips(tmp_path: Path) -> None:
    plan = Plan("db", "/p/devbox.toml", "postgres -D 'x'", {"A": "1"}, "INT", 2.5, ["d1"], "pg")
    assert Plan.from_json(plan.to_json()) == plan


def test_up_takes_what_is_needed_in_order_and_down_what_depends(tmp_path: Path) -> None:
    s = spec(tmp_path)
    assert [x.name for x in s.services] == ["db", "cache", "web"]
    assert [x.name for x in wanted(s, [])] == ["db", "cache", "web"]
    assert [x.name for x in wanted(s, ["web"])] == ["db", "cache", "web"]
    assert [x.name for x in wanted(s, ["cache"])] == ["cache"]
    assert [x.name for x in dependents(s, ["db"])] == ["db", "web"]
    with pytest.raises(DevboxError, match="no service named 'dbx'"):
        wanted(s, ["dbx"])
    with pytest.raises(DevboxError, match=r"has no \[services\]"):
        wanted(spec(tmp_path, '[box]\nbase = "debian:bookworm"\n'), [])


def test_env_takes_names_from_the_project_env_and_itself(tmp_path: Path) -> None:
    s = spec(tmp_path)
    db = s.services[0]
    env = service_env(s, db, "/work/app/")
    assert env == {
        "DEVBOX_SERVICE": "db",
        "DEVBOX_DATA": "/work/app/.devbox/data/db",
        "PGPORT": "5433",
        "WHERE": "/srv/x-db",
        "LATER": "5433!",
    }
    assert port_of(Ready("tcp", "5433")) == 5433 and port_of(Ready("tcp", "${X}")) is None
    assert port_of(Ready("unix", "/run/x.sock")) is None


def test_uptime_reads_like_a_clock() -> None:
    assert [uptime(s) for s in (0, 59.9, 61, 3600, 7322)] == [
        "0s",
        "59s",
        "1m01s",
        "1h00m",
        "2h02m",
    ]


def test_logs_tail_reads_the_rotated_file_too(tmp_path: Path) -> None:
    log = tmp_path / "db.log"
    (tmp_path / "db.log.1").write_text("one\ntwo\n")
    log.write_text("three\n")
    assert tail(log, 2) == ["two", "three"] and tail(log, 0) == []
    assert tail(tmp_path / "none.log", 5) == []


def test_the_command_is_the_one_child_of_the_init() -> None:
    code = (  # a process with exactly one child, as a session's init has
        "import subprocess; p = subprocess.Popen(['sleep', '30']); print(p.pid, flush=True); "
        "p.wait()"
    )
    init = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert init.stdout is not None
        child = int(init.stdout.readline())
        assert command_pid(init.pid) == child
    finally:
        init.kill()
        init.wait()
        os.kill(child, 9)
    assert command_pid(2**22 + 1) is None


def test_live_trusts_no_stale_pid_file(tmp_path: Path) -> None:
    s = spec(tmp_path)
    st = Store(tmp_path / "store")
    d = ProjectPaths(st.project_dir(s.project)).services
    assert live(s, st) == []
    d.mkdir(parents=True)
    (d / "supervisord.pid").write_text(f"{os.getpid()}\n")  # alive, but not a supervisord
    (d / "db.pid").write_text(f"{os.getpid()}\n")
    assert live(s, st) == []
