"""A project's supervisord: its config (pure), starting it, asking it things, stopping it.

supervisord (a well-kept supervisor, PyPI `supervisor`) runs each service's runner
(`python -m devbox.services.runner`), restarts a crashed one (a start that fails within
`startsecs` is retried after 1, 2, 3 seconds, then the service is FATAL), rotates the logs,
and stops with SIGTERM to the runner, then SIGKILL. Its files live in the project's state dir
(the host's, never the box's): config, pid file, its own log, a log per service. The control
socket is a unix socket there, or in a private per-user dir when that path is too long.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.errors import DevboxError
from devbox.store import private
from devbox.store.paths import ProjectPaths

SOCKET_MAX = 100  # AF_UNIX paths hold 107 bytes
LOG_BYTES = 1 << 20  # each service's log is rotated at 1 MiB, 3 kept
LOG_BACKUPS = 3
START_RETRIES = 3  # a start that fails at once: retried after 1, 2, 3 s, then FATAL
START_SECS = 1  # running this long counts as started
KILL_MARGIN = 5
LIVE = (
    "RUNNING",
    "STARTING",
    "BACKOFF",
    "STOPPING",
)  # supervisord's SIGKILL, after the runner's own stop_timeout


@dataclass(frozen=True)
class Files:
    """Where one project's supervisord keeps its things."""

    dir: Path

    @classmethod
    def of(cls, paths: ProjectPaths) -> Files:
        return cls(paths.services)

    @property
    def conf(self) -> Path:
        return self.dir / "supervisord.conf"

    @property
    def pid(self) -> Path:
        return self.dir / "supervisord.pid"

    @property
    def log(self) -> Path:
        return self.dir / "supervisord.log"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    def service_log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def plan(self, name: str) -> Path:
        """What the runner runs (written by `up`: runner.Plan as JSON)."""
        return self.dir / f"{name}.json"

    def starts(self, name: str) -> Path:
        """One byte per start of the service since `up` started it: restarts = size - 1."""
        return self.dir / f"{name}.starts"

    @property
    def socket(self) -> Path:
        here = self.dir / "supervisor.sock"
        if len(str(here)) <= SOCKET_MAX:
            return here
        key = hashlib.sha256(str(self.dir).encode()).hexdigest()[:16]
        return short_dir() / f"{key}.sock"


def short_dir() -> Path:
    """A private dir of this user's for sockets whose natural path is too long: under
    $XDG_RUNTIME_DIR, else /tmp/devbox-UID, refused unless it is ours, 0700, not a link."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    base = Path(runtime) / "devbox" if runtime.startswith("/") and os.path.isdir(runtime) else None
    d = base if base is not None and len(str(base)) < 60 else Path(f"/tmp/devbox-{os.getuid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(d, 0o700)
    st = os.lstat(d)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise DevboxError(
            f"{d} is not a private directory of yours (devbox keeps service sockets there)",
            hint=f"remove it ({d}), then try again",
        )
    return d


def ini(value: str) -> str:
    """A value for supervisord's config: % doubled (its interpolation), one line."""
    if "\n" in value or "\r" in value:
        raise DevboxError(f"a newline in {value!r} cannot go into supervisord's config")
    return value.replace("%", "%%")


@dataclass(frozen=True)
class Program:
    """One service as supervisord runs it."""

    name: str
    restart: bool  # restart when it exits unexpectedly (not when it exits 0)
    stop_timeout: float


def config(files: Files, programs: Sequence[Program], python: str = sys.executable) -> str:
    """supervisord.conf for a project's services (no program starts by itself: `up` starts
    each in dependency order, once the one before is ready)."""
    d = files.dir
    lines = [
        "; written by devbox up; do not edit",
        "[unix_http_server]",
        f"file={ini(str(files.socket))}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={ini(str(files.log))}",
        f"logfile_maxbytes={LOG_BYTES}",
        "logfile_backups=2",
        f"pidfile={ini(str(files.pid))}",
        f"directory={ini(str(d))}",
        f"identifier=devbox:{ini(str(d))}",
        "childlogdir=" + ini(str(files.logs)),
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{ini(str(files.socket))}",
    ]
    for p in programs:
        command = [python, "-m", "devbox.services.runner", str(d), p.name]
        lines += [
            "",
            f"[program:{p.name}]",
            "command=" + " ".join(_quoted(w) for w in command),
            "autostart=false",
            f"autorestart={'unexpected' if p.restart else 'false'}",
            "exitcodes=0",
            f"startsecs={START_SECS}",
            f"startretries={START_RETRIES}",
            "stopsignal=TERM",
            f"stopwaitsecs={int(p.stop_timeout) + KILL_MARGIN}",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={ini(str(files.service_log(p.name)))}",
            f"stdout_logfile_maxbytes={LOG_BYTES}",
            f"stdout_logfile_backups={LOG_BACKUPS}",
        ]
    return "\n".join(lines) + "\n"


def _quoted(word: str) -> str:
    """A word of a program's command (supervisord splits it with shlex)."""
    import shlex

    return ini(shlex.quote(word))


def pid_of(files: Files) -> int | None:
    """The pid of this project's running supervisord, or None (a stale pid file is no pid)."""
    from devbox.sandbox.sessions import cmdline

    try:
        pid = int(files.pid.read_text().strip())
    except (OSError, ValueError):
        return None
    line = cmdline(pid)
    return pid if b"supervisord" in line and str(files.conf).encode() in line else None


def client(files: Files) -> Any:
    """An XML-RPC proxy to the project's supervisord (over its unix socket)."""
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport("", "", f"unix://{files.socket}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def start(files: Files, env: dict[str, str]) -> int:
    """Start supervisord (it forks into the background once its socket listens); its pid."""
    private.mkdirs(files.dir)
    private.mkdirs(files.logs)
    files.socket.unlink(missing_ok=True)  # a stale one (supervisord died): ours to remove
    argv = [sys.executable, "-m", "supervisor.supervisord", "-c", str(files.conf)]
    r = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = pid_of(files)
        if pid is not None and files.socket.exists():
            return pid
        time.sleep(0.01)
    why = (r.stderr or r.stdout).strip() or _tail(files.log)
    raise DevboxError(f"supervisord did not start: {why or 'no reason given'}", log=str(files.log))


def _tail(path: Path, n: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def shutdown(files: Files, timeout: float = 60.0) -> None:
    """Stop supervisord (after its programs): asked over the socket, else SIGTERM; waits."""
    pid = pid_of(files)
    if pid is None:
        clean(files)
        return
    try:
        client(files).supervisor.shutdown()
    except (OSError, xmlrpc.client.Error):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_of(files) == pid and time.monotonic() < deadline:
        time.sleep(0.02)
    if pid_of(files) == pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    clean(files)


def running(files: Files) -> list[str]:
    """The services running (or starting, or restarting) under this project's supervisord."""
    if pid_of(files) is None:
        return []
    try:
        infos = client(files).supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Error):
        return []
    return [str(i["name"]) for i in infos if i["statename"] in LIVE]


def stop_everything(files: Files) -> list[str]:
    """Stop every service and supervisord (reset, gc); the names that were running."""
    if pid_of(files) is None:
        clean(files)
        return []
    try:
        infos = client(files).supervisor.getAllProcessInfo()
        names = [
            str(i["name"]) for i in infos if i["statename"] not in ("STOPPED", "EXITED", "FATAL")
        ]
    except (OSError, xmlrpc.client.Error):
        names = []
    shutdown(files)
    return names


def clean(files: Files) -> None:
    """Remove what a supervisord that is gone (killed, a reboot) left: pid file and socket."""
    if pid_of(files) is None:
        files.pid.unlink(missing_ok=True)
        with contextlib.suppress(OSError, DevboxError):
            files.socket.unlink(missing_ok=True)
