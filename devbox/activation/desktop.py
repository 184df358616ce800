"""Desktop entries on the host for a box's GUI apps (docs/controls.md#desktop-entries).

For each `[shell].expose` command that the box has a desktop entry for (a file in its
`/usr/share/applications` whose Exec runs that command), devbox writes
`$XDG_DATA_HOME/applications/devbox-BOX-COMMAND.desktop`, its name marked with the box's, that
runs the command's shim (so trust is checked at each start, as for a shim on PATH) in the
project's directory, and copies the app's icon into `$XDG_DATA_HOME/icons/hicolor/`. The box's
files are read from its layers and writable layer without following a link (sandbox/layerview),
only regular files, size-capped; nothing of the box's entry is copied but values devbox checked
(desktopfile.py). Entries are written when the shims are (the hook, for an allowed project),
after a build or `devbox allow` of an allowed project, and removed by `devbox deny` and, for a
deleted project, `devbox gc`. What was written for a project is recorded in devbox's state dir.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devbox import nofollow
from devbox.activation import desktopfile as df
from devbox.errors import DevboxError, os_error
from devbox.fastpath import devbox_home
from devbox.sandbox import layerview
from devbox.spec.model import SPEC_NAME, Spec
from devbox.store import private
from devbox.store.paths import ProjectPaths, Store, state_root

APPS = "usr/share/applications"
HICOLOR = "usr/share/icons/hicolor"
PIXMAPS = "usr/share/pixmaps"
ENTRY_LIMIT = 64 << 10  # a .desktop file devbox reads
ICON_LIMIT = 1 << 20  # an icon devbox copies
MAX_FILES = 2000  # .desktop files read from one box
MAX_ICONS = 8  # icon files (sizes) copied per app
VERSION = 1


@dataclass(frozen=True)
class Written:
    """One entry devbox wrote on the host."""

    command: str
    name: str  # the app's name in the box's entry (the host's adds the box's)
    entry: str  # the .desktop file
    icons: tuple[str, ...] = ()


def data_home() -> Path:
    """$XDG_DATA_HOME, else ~/.local/share (the XDG base directory spec)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    return Path(xdg) if xdg.startswith("/") else Path.home() / ".local" / "share"


def entry_id(box: str, command: str) -> str:
    return f"devbox-{box}-{command}"


# -- what was written, per project (devbox's own files) -----------------------------------------


def records_dir() -> Path:
    return state_root() / "desktop"


def record_path(project: Path | str) -> Path:
    real = os.path.realpath(project)
    key = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()
    return records_dir() / f"{key[:32]}.json"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("version") == VERSION else None


def _entries(doc: dict[str, Any] | None) -> list[Written]:
    out = []
    for e in (doc or {}).get("entries") or []:
        with contextlib.suppress(TypeError, ValueError):
            out.append(Written(str(e["command"]), str(e["name"]), str(e["entry"]),
                               tuple(str(i) for i in e["icons"])))  # fmt: skip
    return out


def written(project: Path | str) -> list[Written]:
    """The entries devbox wrote for this project (and has not removed since)."""
    return _entries(_load(record_path(project)))


def _save(spec: Spec, stack: Sequence[str], entries: list[Written]) -> None:
    doc = {"version": VERSION, "project": os.path.realpath(spec.project), "box": spec.name,
           "stack": list(stack), "entries": [asdict(e) for e in entries]}  # fmt: skip
    path = record_path(spec.project)
    private.mkdirs(path.parent)
    nofollow.write_replace(path.parent, path.name, json.dumps(doc).encode(), 0o600)


def _others(project: Path | str) -> set[str]:
    """Files other projects' records name (two boxes of one name share file names)."""
    mine, out = record_path(project), set()
    with contextlib.suppress(OSError):
        for path in records_dir().glob("*.json"):
            if path != mine:
                for e in _entries(_load(path)):
                    out.update([e.entry, *e.icons])
    return out


def _remove(paths: set[str], project: Path | str) -> None:
    for path in paths - _others(project):
        with contextlib.suppress(OSError):
            os.unlink(path)


def forget(project: Path | str) -> list[Written]:
    """Remove the entries and icons written for this project (`devbox deny`, `devbox gc`)."""
    gone = written(project)
    _remove({p for e in gone for p in (e.entry, *e.icons)}, project)
    with contextlib.suppress(OSError):
        record_path(project).unlink()
    return gone


def forget_deleted(*, dry_run: bool = False) -> list[str]:
    """`devbox gc`: the entries of projects whose devbox.toml is gone go; their paths."""
    out = []
    with contextlib.suppress(OSError):
        for path in sorted(records_dir().glob("*.json")):
            project = str((_load(path) or {}).get("project") or "")
            if project and not os.path.isfile(os.path.join(project, SPEC_NAME)):
                out.append(project)
                if not dry_run:
                    forget(project)
    return out


# -- the box's side -----------------------------------------------------------------------------


def box_roots(spec: Spec, st: Store) -> tuple[list[Path], list[str]] | None:
    """The layer roots of the box as last built or entered (top first, the writable layer
    first) and that stack; None before it was."""
    from devbox.store import layers, projects

    stack = (projects.read_project(st, spec.project) or {}).get("stack")
    if not isinstance(stack, list) or not stack or not all(isinstance(d, str) for d in stack):
        return None
    lowers = layers.expand(st, stack) if spec.base.kind == "oci" else stack
    upper = ProjectPaths(st.project_dir(spec.project)).upper
    return [upper, *(st.layer_rootfs(d) for d in reversed(lowers))], stack


def find_apps(roots: Sequence[Path], commands: Sequence[str]) -> dict[str, df.BoxApp]:
    """Each command's desktop entry in the box (desktopfile.choose), if it has one."""
    found: dict[str, list[df.BoxApp]] = {}
    listed = layerview.listdir(roots, APPS)
    names = [n for n, st in listed.items() if n.endswith(".desktop") and stat.S_ISREG(st.st_mode)]
    for name in names[:MAX_FILES]:
        try:
            data = layerview.read(roots, f"{APPS}/{name}", ENTRY_LIMIT)
        except layerview.TooBig:
            continue
        for command in commands:
            if data and command.encode() in data:
                app = df.app_for(command, name, data)
                if app is not None:
                    found.setdefault(command, []).append(app)
    return {c: app for c, apps in found.items() if (app := df.choose(c, apps)) is not None}


def _icon(roots: Sequence[Path], rel: str, ext: str) -> bytes | None:
    try:
        data = layerview.read(roots, rel, ICON_LIMIT)
    except layerview.TooBig:
        return None
    return data if data and df.icon_ok(data, ext) else None


def find_icons(roots: Sequence[Path], icon: str) -> list[tuple[str, str, bytes]]:
    """(hicolor size dir, extension, bytes) of the icon an entry names: an absolute path in the
    box, else a name looked up in the box's hicolor theme, then in /usr/share/pixmaps."""
    if icon.startswith("/"):
        ext = icon.rpartition(".")[2]
        data = _icon(roots, icon[1:], ext) if ext in df.ICON_EXTS else None
        size = df.icon_size_dir(data, ext) if data else None
        return [(size, ext, data)] if data and size else []
    name = icon.removesuffix(".png").removesuffix(".svg").removesuffix(".xpm")
    out: list[tuple[str, str, bytes]] = []
    for size, st in layerview.listdir(roots, HICOLOR).items():
        if stat.S_ISDIR(st.st_mode) and df.SIZE_DIR_RE.fullmatch(size) and len(out) < MAX_ICONS:
            for ext in df.ICON_EXTS:
                data = _icon(roots, f"{HICOLOR}/{size}/apps/{name}.{ext}", ext)
                if data:
                    out.append((size, ext, data))
                    break
    for ext in df.ICON_EXTS if not out else ():
        data = _icon(roots, f"{PIXMAPS}/{name}.{ext}", ext)
        size = df.icon_size_dir(data, ext) if data else None
        if data and size:
            return [(size, ext, data)]
    return out


# -- the host's side ----------------------------------------------------------------------------


def _put(path: Path, data: bytes) -> None:
    """The user's own data dir: made 0700 if missing (the XDG spec), the file replaced unless
    it holds `data` already (a desktop notices every change)."""
    os.makedirs(path.parent, mode=0o700, exist_ok=True)
    with contextlib.suppress(OSError, DevboxError):
        if nofollow.read_file(path, len(data)) == data:
            return
    nofollow.write_replace(path.parent, path.name, data, 0o644)


def runner(shims: Path, command: str) -> list[str]:
    """The words an entry runs: the command's shim, with the store it belongs to."""
    home = devbox_home()
    return [*(["env", f"DEVBOX_HOME={home}"] if home else []), str(shims / command)]


def sync(spec: Spec, shims: Path) -> list[Written]:
    """Write the entries of this allowed spec's exposed apps (shims: its shim directory, just
    written) and remove those it no longer has; what is there now. Before the box was first
    built there is nothing to read: what was written stays."""
    commands = [c for c in spec.shell.expose if df.COMMAND_RE.fullmatch(c)]
    if not commands:
        forget(spec.project)
        return []
    st = Store.default()
    found = box_roots(spec, st)
    if found is None:
        return written(spec.project)
    roots, stack = found
    home, now, apps = data_home(), [], find_apps(roots, commands)
    for command, app in ((c, apps[c]) for c in commands if c in apps):
        base = entry_id(spec.name, command)
        found_icons = find_icons(roots, app.icon) if app.icon else []
        icons = [(home / "icons/hicolor" / size / "apps" / f"{base}.{ext}", data)
                 for size, ext, data in found_icons]  # fmt: skip
        try:
            text = df.render(app, runner(shims, command), box=spec.name,
                             project=str(spec.project), icon=base if icons else None)  # fmt: skip
        except ValueError as e:
            raise DevboxError(
                f"no desktop entry for {command}: {e}", hint="a desktop entry cannot hold it"
            ) from None
        for path, data in icons:
            _put(path, data)
        entry = home / "applications" / f"{base}.desktop"
        _put(entry, text.encode())
        now.append(Written(command, app.name, str(entry), tuple(str(p) for p, _ in icons)))
    kept = {p for e in now for p in (e.entry, *e.icons)}
    _remove({p for e in written(spec.project) for p in (e.entry, *e.icons)} - kept, spec.project)
    _save(spec, stack, now)
    return now


def refresh(spec: Spec, data: bytes, stack: Sequence[str] | None = None) -> list[Written]:
    """After a build, an entry or `devbox allow`: an allowed project's shims and entries written
    (as the hook writes them at its next prompt), unless `stack` is the one they were written
    for. Nothing for a spec that exposes nothing and never did."""
    path = record_path(spec.project)
    if not spec.shell.expose and not path.exists():
        return []
    if stack is not None and (_load(path) or {}).get("stack") == list(stack):
        return written(spec.project)
    from devbox.activation import trust
    from devbox.activation.shims import write_shims

    if trust.verdict(spec.path, data).state != trust.ALLOWED:
        return written(spec.project)
    return sync(spec, write_shims(spec))


def refresh_or_say(
    spec: Spec, data: bytes, say: Callable[[str], None], stack: Sequence[str] | None = None
) -> list[Written]:
    """refresh(), a failure said (it never stops what called it: a build, an entry, an allow)."""
    try:
        return refresh(spec, data, stack)
    except DevboxError as e:
        say(e.render())
    except OSError as e:
        say(os_error(e))
    return []
