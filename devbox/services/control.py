"""`devbox up` and `devbox down`: start services in dependency order, each once what it
depends on is ready; stop them (and what depends on them). A failed `up` stops what it started
and leaves nothing running that was not running before."""

from __future__ import annotations

import os
import time
import xmlrpc.client
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devbox.build.progress import Display
from devbox.errors import DevboxError, terminal
from devbox.services import supervise as sv
from devbox.services.probe import Prober
from devbox.services.targets import Target, dependents, port_holder, resolve, wanted
from devbox.spec.model import Spec
from devbox.store import fs
from devbox.store.paths import ProjectPaths, Store

UP = ("RUNNING", "STARTING", "BACKOFF")
POLL = 0.02
LOG_LINES = 15


def files_of(spec: Spec) -> sv.Files:
    return sv.Files.of(ProjectPaths(Store.default().project_dir(spec.project)))


def up(spec: Spec, names: Sequence[str], display: Display) -> list[str]:
    """Start `names` (all) and what they depend on; a line per service saying where it is."""
    services = wanted(spec, names)
    targets = resolve(spec, services, display)
    files = files_of(spec)
    from devbox.services.data import ensure_data
    from devbox.store import private

    private.mkdirs(files.dir)
    with fs.flocked(files.dir / "up.lock"):
        for t in targets:
            ensure_data(t.box.spec.project, t.name, project=spec.project)
        changed = _write_plans(files, targets)
        rpc = _supervisor(files, spec)
        started: list[str] = []
        try:
            lines = _in_waves(rpc, files, targets, changed, started, display)
        except BaseException:
            _undo(rpc, files, started)
            raise
    return lines


def _write_plans(files: sv.Files, targets: Sequence[Target]) -> set[str]:
    """Each runner's plan; the names whose plan changed."""
    changed: set[str] = set()
    for t in targets:
        text = t.plan().to_json()
        path = files.plan(t.name)
        try:
            old = path.read_text()
        except OSError:
            old = None
        if old != text:
            changed.add(t.name)
            tmp = path.with_name(path.name + ".new")
            tmp.write_text(text)
            os.replace(tmp, path)
    return changed


def _supervisor(files: sv.Files, spec: Spec) -> Any:
    """The project's supervisord, started (or told of a new config); its XML-RPC proxy."""
    programs = [sv.Program(s.name, s.restart != "no", s.stop_timeout) for s in spec.services]
    text = sv.config(files, programs)
    try:
        old = files.conf.read_text()
    except OSError:
        old = None
    if old != text:
        files.conf.write_text(text)
    if sv.pid_of(files) is None:
        sv.clean(files)
        sv.start(files, dict(os.environ))
        return sv.client(files)
    rpc = sv.client(files)
    if old != text:  # as `supervisorctl update` does
        added, changed, removed = rpc.supervisor.reloadConfig()[0]
        for name in changed + removed:
            rpc.supervisor.stopProcessGroup(name, True)
            rpc.supervisor.removeProcessGroup(name)
        for name in changed + added:
            rpc.supervisor.addProcessGroup(name)
    return rpc


def _state(rpc: Any, name: str) -> dict[str, Any]:
    info: dict[str, Any] = rpc.supervisor.getProcessInfo(name)
    return info


def _in_waves(
    rpc: Any,
    files: sv.Files,
    targets: Sequence[Target],
    changed: set[str],
    started: list[str],
    display: Display,
) -> list[str]:
    """Start every service whose dependencies are ready at once, wait for them, then the next
    wave: services that do not depend on each other start side by side."""
    names = {t.name for t in targets}
    ready: set[str] = set()
    lines: list[str] = []
    todo = list(targets)
    while todo:
        wave = [t for t in todo if all(d in ready or d not in names for d in t.service.depends_on)]
        began = time.monotonic()
        notes = {t.name: _launch(rpc, files, t, t.name in changed, started, display) for t in wave}
        took = _wait_ready(rpc, files, wave, Prober(), began)
        for t in wave:
            where = t.listens()
            on = f" on {where}" if where else ""
            lines.append(f"{t.name}: ready{on} ({took[t.name]:.1f} s){notes[t.name]}")
        ready |= {t.name for t in wave}
        todo = [t for t in todo if t.name not in ready]
    return lines


def _launch(
    rpc: Any, files: sv.Files, t: Target, changed: bool, started: list[str], display: Display
) -> str:
    """Start `t` unless it runs (restarted when its plan changed); a note for its line."""
    state = _state(rpc, t.name)["statename"]
    note = ""
    if state in UP and changed:
        rpc.supervisor.stopProcess(t.name, True)
        state, note = "STOPPED", " (restarted: its command, env or box changed)"
    if state in UP:
        return " (already running)"
    port = t.port  # the host's port is the service's unless its box has a network of its own
    holder = port_holder(port) if port is not None and t.box.spec.network == "host" else None
    if holder is not None:
        raise DevboxError(
            f"{t.name}: port {port} on 127.0.0.1 is taken by {holder}",
            hint=f"stop that, or give {t.name} another port (its env, or the project's [env])",
        )
    files.starts(t.name).write_bytes(b"")
    files.dir.joinpath(f"{t.name}.pid").unlink(missing_ok=True)
    display.info(f"{t.name}: starting")
    rpc.supervisor.startProcess(t.name, False)
    started.append(t.name)
    return note


def _wait_ready(
    rpc: Any, files: sv.Files, wave: Sequence[Target], prober: Prober, began: float
) -> dict[str, float]:
    """Wait until each of `wave` is ready; the seconds each took from `began`."""
    took: dict[str, float] = {}
    while len(took) < len(wave):
        for t in wave:
            if t.name not in took and _is_ready(rpc, files, t, prober, began):
                took[t.name] = time.monotonic() - began
        if len(took) < len(wave):
            time.sleep(POLL)
    return took


def _is_ready(rpc: Any, files: sv.Files, t: Target, prober: Prober, began: float) -> bool:
    state = _state(rpc, t.name)["statename"]
    if state in ("FATAL", "EXITED", "STOPPED"):
        why = {"FATAL": "kept failing at start and was given up", "EXITED": "exited"}
        raise DevboxError(
            f"{t.name} {why.get(state, 'stopped')} before it was ready" + last_lines(files, t.name),
            hint=f"`devbox logs {t.name}` shows its whole log",
        )
    if state == "RUNNING" and t.ready is None:
        return True  # no test: running for supervisord's startsecs is ready
    if state in ("STARTING", "RUNNING") and t.ready is not None and prober.ready(t):
        return True
    if time.monotonic() - began > t.service.ready_timeout:
        raise DevboxError(
            f"{t.name} was not ready after {t.service.ready_timeout:g} s "
            f"({t.service.ready})" + last_lines(files, t.name),
            hint=f"raise its ready_timeout, or check its ready test; `devbox logs {t.name}`",
        )
    return False


def last_lines(files: sv.Files, name: str, n: int = LOG_LINES) -> str:
    try:
        lines = files.service_log(name).read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return ""
    if not lines:
        return "; its log is empty"
    return "; the last lines of its log:\n" + "\n".join("  | " + terminal(x) for x in lines)


def _undo(rpc: Any, files: sv.Files, started: Sequence[str]) -> None:
    """After a failed `up`: stop what it started; supervisord too when nothing else runs."""
    for name in reversed(started):
        try:
            rpc.supervisor.stopProcess(name, True)
        except (OSError, xmlrpc.client.Error):
            pass
    if not _running(rpc):
        sv.shutdown(files)


def _running(rpc: Any) -> list[str]:
    try:
        infos: list[dict[str, Any]] = rpc.supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Error):
        return []
    return [i["name"] for i in infos if i["statename"] in (*UP, "STOPPING")]


def down(spec: Spec, names: Sequence[str], *, volumes: bool) -> list[str]:
    """Stop `names` (all) and what depends on them; with `volumes`, delete their data."""
    wanted(spec, names)  # an unknown name is an error, as for `up`
    services = dependents(spec, names) if names else list(spec.services)
    files = files_of(spec)
    lines: list[str] = []
    if files.dir.is_dir():
        with fs.flocked(files.dir / "up.lock"):
            lines += stop_all(files, [s.name for s in services], whole=not names)
    if volumes:
        lines += _drop_data(spec, services)
    return lines or ["no service was running"]


def stop_all(files: sv.Files, names: Sequence[str], *, whole: bool) -> list[str]:
    """Stop `names` (last first) under a running supervisord; it goes too when nothing is left."""
    if sv.pid_of(files) is None:
        sv.clean(files)
        return []
    rpc = sv.client(files)
    running = set(_running(rpc))
    lines: list[str] = []
    for name in reversed(list(names)):
        if name in running:
            rpc.supervisor.stopProcess(name, True)
            lines.append(f"{name}: stopped")
    if whole or not _running(rpc):
        sv.shutdown(files)
    return lines


def _drop_data(spec: Spec, services: Sequence[Any]) -> list[str]:
    from devbox.sandbox.host import current_tier
    from devbox.services.data import data_rel, remove_data
    from devbox.services.targets import box_spec

    tier = current_tier()  # tier 2: files a box made as root are its subordinate ids'
    out: list[str] = []
    for s in services:
        project: Path = box_spec(spec, s).project
        if remove_data(project, s.name, tier, project=spec.project):
            out.append(f"{s.name}: data deleted ({project / data_rel(s.name)})")
    return out
