"""Helpers of the services tests: free ports, the process table, a project with redis."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REDIS_SPEC = """\
[box]
base = "debian:bookworm"

[packages]
apt = ["redis-server"]

[env]
REDIS_PORT = "{port}"

[services.cache]
command = "exec redis-server --port ${{REDIS_PORT}} --bind 127.0.0.1 --dir ${{DEVBOX_DATA}}"
ready = "tcp:${{REDIS_PORT}}"
stop_timeout = 5
{extra}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


BOX_SUPERVISOR = ": devbox-box"  # a box's mount holder: it lingers after its last session


def processes(marker: str) -> list[tuple[int, str]]:
    """Every process whose command line holds `marker`, but this test run's own and a box's
    mount holder (which outlives the sessions by design: docs/design/boxes.md)."""
    found: list[tuple[int, str]] = []
    me = os.getpid()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                line = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if (
            marker in line
            and int(pid) != me
            and "-m pytest" not in line
            and BOX_SUPERVISOR not in line
        ):
            found.append((int(pid), line))
    return found


def wait_for(what: Callable[[], bool], timeout: float = 30.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(step)
    return what()


def redis(port: int, *words: str) -> str:
    """One RESP command to redis on 127.0.0.1:`port`; its reply line."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"*{len(words)}\r\n".encode() + b"".join(
            f"${len(w)}\r\n{w}\r\n".encode() for w in words))  # fmt: skip
        return s.recv(4096).decode()


def services_json(run: Callable[..., Any], cwd: Path) -> dict[str, dict[str, Any]]:
    r = run("services", "--json", cwd=cwd)
    assert r.returncode == 0, r.stderr
    return {s["name"]: s for s in json.loads(r.stdout)["services"]}
