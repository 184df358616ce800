"""The django-postgres template as a user would run it: a project made by `devbox init`, on ports
free on this host, its app asked over HTTP, and the process table searched for its servers.
Shared by test_services_django.py (root) and test_services_django_rootless.py (a created user)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Run = Callable[..., subprocess.CompletedProcess[str]]  # devbox ARGS in the project
SERVERS = (b"postgres", b"redis-server", b"runserver")


@dataclass(frozen=True)
class Ports:
    db: int
    redis: int
    web: int


def free_ports() -> Ports:
    """Three ports nothing listens on now (bound to port 0, then closed)."""
    socks = [socket.socket() for _ in range(3)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        db, redis, web = (s.getsockname()[1] for s in socks)
    finally:
        for s in socks:
            s.close()
    return Ports(db, redis, web)


def use_ports(project: Path, ports: Ports) -> None:
    """Point [env] of the template's devbox.toml at `ports`."""
    spec = project / "devbox.toml"
    text = spec.read_text()
    for key, port in (("DB_PORT", ports.db), ("REDIS_PORT", ports.redis), ("WEB_PORT", ports.web)):
        text, n = re.subn(rf'^{key} = "[0-9]+"$', f'{key} = "{port}"', text, flags=re.M)
        assert n == 1, f"{key} is not in the template's [env]"
    spec.write_text(text)


def ready_lines(stdout: str, ports: Ports) -> None:
    """`devbox up` said each service is ready where it listens, in dependency order."""
    pattern = (r"db: ready \([0-9.]+ s\)\n"  # pg_isready: no address to show
               rf"cache: ready on 127\.0\.0\.1:{ports.redis} \([0-9.]+ s\)\n"
               rf"web: ready on 127\.0\.0\.1:{ports.web} \([0-9.]+ s\)\n")  # fmt: skip
    assert re.fullmatch(pattern, stdout), stdout


def hits(ports: Ports) -> dict[str, int]:
    """GET /hits from the host: a row in postgres and a key in redis, both counts."""
    with urllib.request.urlopen(f"http://127.0.0.1:{ports.web}/hits", timeout=30) as r:
        body: dict[str, int] = json.loads(r.read())
    return body


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(ppid, state, start time) of a live process; None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2 :].split()
    return int(rest[1]), rest[0].decode(), rest[19].decode()


def family(pids: list[int]) -> dict[int, str]:
    """`pids` and all their descendants: pid -> start time (a reused pid is another process)."""
    table = {int(p): _stat(int(p)) for p in os.listdir("/proc") if p.isdigit()}
    out: dict[int, str] = {}
    todo = list(pids)
    while todo:
        pid = todo.pop()
        st = table.get(pid)
        if st is None or pid in out:
            continue
        out[pid] = st[2]
        todo += [child for child, s in table.items() if s is not None and s[0] == pid]
    return out


def alive(processes: dict[int, str]) -> list[int]:
    """Those of `processes` still running (a zombie is dead)."""
    out = []
    for pid, start in processes.items():
        st = _stat(pid)
        if st is not None and st[2] == start and st[1] != "Z":
            out.append(pid)
    return out


def servers_of(project: Path, ports: Ports) -> list[str]:
    """Command lines of running postgres, redis-server or runserver processes naming this
    project or one of its ports."""
    numbers = b"|".join(str(p).encode() for p in (ports.db, ports.redis, ports.web))
    port = rb"(?<![0-9])(?:" + numbers + rb")(?![0-9])"
    mark = re.compile(re.escape(str(project).encode()) + rb"|" + port)
    found = []
    for p in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if any(s in cmd for s in SERVERS) and mark.search(cmd):
            found.append(cmd.decode(errors="replace"))
    return found


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def gone_after_down(run: Run, project: Path, ports: Ports) -> None:
    """`devbox down` stops every server of the project: none of the services' processes (or
    their children: postgres's workers, runserver's reloaded server) is left, nothing of the
    project's runs, nothing listens on its ports."""
    report = json.loads(run("services", "--json").stdout)
    pids = [s["pid"] for s in report["services"] if s["pid"]]
    assert len(pids) == 3, report
    before = family(pids)
    assert len(before) > 3, "postgres's workers and runserver's server are among them"
    r = run("down")
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 5  # a killed pid namespace is reaped at once, but not atomically
    while (alive(before) or servers_of(project, ports)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(before) == [], [Path(f"/proc/{p}/cmdline").read_bytes() for p in alive(before)]
    assert servers_of(project, ports) == []
    assert not any(listening(p) for p in (ports.db, ports.redis, ports.web))
