"""`devbox ls`: every box and layer in the store, their sizes, who uses what, and when.

Reads only what the store records: layer sizes come from meta.json (measured once, at build
time), so listing never walks a layer's rootfs. Only writable layers and caches are measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from devbox.commands.gc import last_used
from devbox.errors import DevboxError, printable
from devbox.sandbox.sessions import supervisor_pid
from devbox.spec.model import SPEC_NAME
from devbox.store import fs, projects
from devbox.store import layers as store
from devbox.store.paths import ProjectPaths, Store

KIND_ORDER = {"debian": 0, "apt": 1, "setup": 2}


@dataclass(frozen=True)
class LayerRow:
    digest: str
    kind: str
    title: str
    size: int


@dataclass(frozen=True)
class BoxRow:
    name: str
    path: str
    stack: tuple[str, ...]
    gone: bool
    running: bool
    used: float | None
    writable: int


def human(n: int) -> str:
    """A size for people: 0 B, 512 B, 3.5 KiB, 242.1 MiB, 1.3 GiB."""
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts is not None else "unknown"


def read_layers(st: Store) -> dict[str, LayerRow]:
    """Every layer directory (not the temp dirs of builds), by digest."""
    rows: dict[str, LayerRow] = {}
    if not st.layers.is_dir():
        return rows
    for entry in sorted(st.layers.iterdir()):
        if entry.name.startswith(store.TMP_PREFIX) or not entry.is_dir():
            continue
        if not (entry / "meta.json").is_file():
            # Rare (a layer is committed with its meta.json); measure it so the total is true.
            rows[entry.name] = LayerRow(entry.name, "", "(incomplete)", fs.disk_usage(entry))
            continue
        try:
            meta = store.read_meta(st, entry.name)
        except DevboxError:
            rows[entry.name] = LayerRow(entry.name, "", "(damaged meta.json)", 0)
            continue
        rows[entry.name] = LayerRow(entry.name, meta.kind, meta.title, int(meta.size))
    return rows


def read_boxes(st: Store) -> list[BoxRow]:
    rows: list[BoxRow] = []
    for pdir, info in projects.registered(st):
        paths = ProjectPaths(pdir)
        path = info.get("path")
        stack = info.get("stack")
        rows.append(
            BoxRow(
                name=str(info.get("name") or pdir.name),
                path=str(path) if path else "(not recorded)",
                stack=tuple(d for d in stack if isinstance(d, str))
                if isinstance(stack, list)
                else (),
                gone=not (path and (Path(path) / SPEC_NAME).is_file()),
                running=supervisor_pid(paths) is not None,
                used=last_used(pdir, info),
                writable=fs.disk_usage(paths.upper) if paths.upper.exists() else 0,
            )
        )
    return sorted(rows, key=lambda b: (b.name, b.path))


def _table(rows: list[list[str]], right: frozenset[int] = frozenset()) -> list[str]:
    """Columns padded to their widest cell (right-aligned where asked), two spaces apart."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(r, widths))
        ]
        out.append(("  " + "  ".join(cells)).rstrip())
    return out


def listing(st: Store) -> list[str]:
    layers = read_layers(st)
    boxes = read_boxes(st)
    caches = fs.disk_usage(st.cache) if st.cache.is_dir() else 0
    if not layers and not boxes:
        return ["no boxes yet (devbox build makes one)", f"store: {st.root}"]

    lines = ["boxes (projects):"]
    box_rows = []
    for b in boxes:
        present = [d for d in b.stack if d in layers]
        count = f"{len(b.stack)} layer{'s' if len(b.stack) != 1 else ''}"
        if len(present) < len(b.stack):
            count += f" ({len(b.stack) - len(present)} missing)"
        box_rows.append(
            [
                b.name,
                printable(b.path) + (" (gone)" if b.gone else ""),
                count,
                human(sum(layers[d].size for d in present)),
                f"writable {human(b.writable)}",
                f"used {when(b.used)}",
                "running" if b.running else "",
            ]
        )
    lines += _table(box_rows, right=frozenset({3})) or ["  none"]

    lines.append("layers:")
    users: dict[str, list[BoxRow]] = {}
    for b in boxes:
        for d in dict.fromkeys(b.stack):
            users.setdefault(d, []).append(b)
    ordered = sorted(
        layers.values(), key=lambda r: (KIND_ORDER.get(r.kind, len(KIND_ORDER)), r.title, r.digest)
    )
    layer_rows = []
    for r in ordered:
        by = users.get(r.digest, [])
        if not by:
            use = "unused (devbox gc frees it)"
        else:
            use = "used by " + ", ".join(b.name + (" (gone)" if b.gone else "") for b in by)
            if all(b.gone and not b.running for b in by):
                use += "; devbox gc frees it"
        layer_rows.append([r.digest[:12], r.title, human(r.size), use])
    lines += _table(layer_rows, right=frozenset({2})) or ["  none"]

    total = sum(r.size for r in layers.values()) + sum(b.writable for b in boxes) + caches
    lines.append(
        f"store: {st.root}  total {human(total)} on disk (shared layers counted once), "
        f"caches {human(caches)}"
    )
    return lines
