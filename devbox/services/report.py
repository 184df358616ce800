"""`devbox services`: each service's state as supervisord and the service itself tell it (a
supervisord that is gone, killed or lost to a reboot, is told as such and its files cleaned)."""

from __future__ import annotations

import time
import xmlrpc.client
from typing import Any

from devbox.build.progress import Display
from devbox.services import supervise as sv
from devbox.services.control import files_of
from devbox.services.probe import Prober, alive
from devbox.services.targets import Target, resolve
from devbox.spec.model import Spec

COLUMNS = ("NAME", "STATE", "PID", "UPTIME", "RESTARTS", "READY", "LISTEN")


def uptime(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def rows(spec: Spec) -> list[dict[str, Any]]:
    """One dict per service: name, state, pid, uptime (s), restarts, ready, listen."""
    files = files_of(spec)
    infos: dict[str, dict[str, Any]] = {}
    if sv.pid_of(files) is not None:
        try:
            infos = {i["name"]: i for i in sv.client(files).supervisor.getAllProcessInfo()}
        except (OSError, xmlrpc.client.Error):
            infos = {}
    else:
        sv.clean(files)
    targets: dict[str, Target] = {}
    live = ("RUNNING", "STARTING")
    if any(i.get("statename") in live for i in infos.values()):
        running = [s for s in spec.services if infos.get(s.name, {}).get("statename") in live]
        stacks = {s.name: _started_with(files, s.name) for s in running}
        targets = {t.name: t for t in resolve(spec, running, Display(quiet=True), stacks)}
    prober = Prober()
    out: list[dict[str, Any]] = []
    for s in spec.services:
        info = infos.get(s.name, {})
        state = str(info.get("statename", "STOPPED")).lower()
        up = state in ("running", "starting")
        pid = _pid(files, s.name) if up else None
        t = targets.get(s.name)
        ready = prober.ready(t) if t is not None else False
        if state == "starting" and ready:
            state = "running"  # ready before supervisord's startsecs passed
        out.append({
            "name": s.name,
            "state": state,
            "pid": pid,
            "uptime": round(time.time() - info["start"], 1) if up else None,
            "restarts": _restarts(files, s.name),
            "ready": ready,
            "listen": (t.listens() or None) if t is not None else None,
        })  # fmt: skip
    return out


def _started_with(files: sv.Files, name: str) -> list[str]:
    """The layers a running service's box was started with (its plan): a report builds
    nothing, even when devbox.toml changed since."""
    from devbox.services.runner import Plan

    try:
        return Plan.from_json(files.plan(name).read_text()).stack
    except (OSError, ValueError, KeyError):
        return []


def _pid(files: sv.Files, name: str) -> int | None:
    try:
        pid = int(files.dir.joinpath(f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def _restarts(files: sv.Files, name: str) -> int:
    try:
        return max(0, files.starts(name).stat().st_size - 1)
    except OSError:
        return 0


def report(spec: Spec) -> list[str]:
    table = [list(COLUMNS)]
    for r in rows(spec):
        table.append([
            r["name"], r["state"], str(r["pid"] or "-"),
            uptime(r["uptime"]) if r["uptime"] is not None else "-",
            str(r["restarts"]), "yes" if r["ready"] else "no", r["listen"] or "-",
        ])  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]


def report_json(spec: Spec) -> dict[str, Any]:
    return {"project": str(spec.project), "services": rows(spec)}
