"""`devbox ls`: every box and layer in the store, their sizes, who uses what, and when.

Reads only what the store records: layer sizes come from meta.json (measured once, at build
time), so listing never walks a layer's rootfs. Only writable layers and caches are measured
(the apt and download caches, and the images' blob cache with their records).

A box's size includes the layers of its image base (their image layers, shared on disk with any
other box on the same image: the total counts them once).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devbox.commands import imagestore as images
from devbox.commands.columns import in_one_unit, table, when
from devbox.commands.gc import last_used
from devbox.errors import DevboxError, printable
from devbox.sandbox.sessions import supervisor_pid
from devbox.spec.model import SPEC_NAME
from devbox.store import fs, projects
from devbox.store import layers as store
from devbox.store.paths import ProjectPaths, Store

KIND_ORDER = {"image-layer": 0, "oci": 1, "rootfs": 1, "debian": 1, "apt": 2, "python": 3,
              "node": 4, "setup": 5}  # fmt: skip


@dataclass(frozen=True)
class LayerRow:
    digest: str
    kind: str
    title: str
    size: int
    parent: str | None = None
    suite: str | None = None  # the Debian suite it was built on (its own, or its base's)
    tier: int | None = None  # the privilege tier it was built under
    resolved: str | None = None  # what an interpreter's request resolved to (20 -> 20.18.0)
    created: float | None = None


@dataclass(frozen=True)
class BoxRow:
    name: str
    path: str
    stack: tuple[str, ...]
    gone: bool
    running: bool
    used: float | None
    writable: int
    layers: tuple[str, ...] = ()  # the stack with its image bases' layers (store.expand)

    @property
    def image_layers(self) -> int:
        """How many layers its image base brings below it."""
        return len(self.layers) - len(set(self.stack))


def _resolved(meta: store.LayerMeta) -> str | None:
    pins = meta.pins or {}
    version = pins.get("version") if isinstance(pins, dict) else None
    return str(version) if version else None


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
        suite = meta.recipe.get("suite") if isinstance(meta.recipe, dict) else None
        rows[entry.name] = LayerRow(
            entry.name,
            meta.kind,
            meta.title,
            int(meta.size),
            parent=meta.parent,
            suite=str(suite) if suite else None,
            tier=meta.tier,
            resolved=_resolved(meta),
            created=meta.created,
        )
    return rows


def suite_of(layers: dict[str, LayerRow], digest: str) -> str | None:
    """The suite a layer sits on: its own, else the nearest below it that says."""
    seen: set[str] = set()
    row = layers.get(digest)
    while row is not None and row.digest not in seen:
        if row.suite:
            return row.suite
        seen.add(row.digest)
        row = layers.get(row.parent) if row.parent else None
    return None


def read_boxes(st: Store) -> list[BoxRow]:
    rows: list[BoxRow] = []
    for pdir, info in projects.registered(st):
        paths = ProjectPaths(pdir)
        path = info.get("path")
        stack = info.get("stack")
        recorded = tuple(d for d in stack if isinstance(d, str)) if isinstance(stack, list) else ()
        rows.append(
            BoxRow(
                name=str(info.get("name") or pdir.name),
                path=str(path) if path else "(not recorded)",
                stack=recorded,
                gone=not (path and (Path(path) / SPEC_NAME).is_file()),
                running=supervisor_pid(paths) is not None,
                used=last_used(pdir, info),
                writable=fs.disk_usage(paths.upper) if paths.upper.exists() else 0,
                layers=tuple(dict.fromkeys(store.expand(st, recorded))),
            )
        )
    return sorted(rows, key=lambda b: (b.name, b.path))


@dataclass(frozen=True)
class Contents:
    """Everything `devbox ls` shows, read once."""

    layers: dict[str, LayerRow]
    boxes: list[BoxRow]
    caches: int
    blobs: tuple[int, int] = (0, 0)  # the blob cache: how many, bytes on disk
    oci: int = 0  # bytes on disk under Store.oci: blobs, image records, pulls being staged

    def users(self) -> dict[str, list[BoxRow]]:
        out: dict[str, list[BoxRow]] = {}
        for b in self.boxes:
            for d in b.layers:
                out.setdefault(d, []).append(b)
        return out

    def shared_image_layers(self) -> tuple[int, int]:
        """Image layers that several boxes use: how many, and their size (stored once)."""
        users = self.users()
        shared = [
            r
            for r in self.layers.values()
            if r.kind == images.IMAGE_LAYER and len(users.get(r.digest, ())) > 1
        ]
        return len(shared), sum(r.size for r in shared)

    def has_images(self) -> bool:
        return self.blobs[0] > 0 or any(r.kind == images.IMAGE_LAYER for r in self.layers.values())

    def ordered(self) -> list[LayerRow]:
        rank = len(KIND_ORDER)
        return sorted(
            self.layers.values(),
            key=lambda r: (KIND_ORDER.get(r.kind, rank), r.title, r.resolved or "", r.digest),
        )

    def box_size(self, b: BoxRow) -> int:
        return sum(self.layers[d].size for d in b.layers if d in self.layers)

    def total(self) -> int:
        layers = sum(r.size for r in self.layers.values())
        return layers + sum(b.writable for b in self.boxes) + self.caches + self.oci


def read(st: Store) -> Contents:
    caches = fs.disk_usage(st.cache) if st.cache.is_dir() else 0
    blobs = images.blobs(st)
    oci = fs.disk_usage(st.oci) if st.oci.is_dir() else 0
    blob_cache = (len(blobs), sum(b.size for b in blobs))
    return Contents(read_layers(st), read_boxes(st), caches, blob_cache, oci)


def layer_what(r: LayerRow) -> str:
    """The layer's title, with what an interpreter's request resolved to."""
    if r.resolved and not r.title.startswith(f"{r.kind} {r.resolved} "):
        return f"{r.title} = {r.resolved}"
    return r.title


def layer_on(data: Contents, r: LayerRow) -> str:
    """What a layer was built on and under: its suite and tier (two `node 20` layers differ)."""
    suite = suite_of(data.layers, r.digest)
    parts = [suite or "", f"tier {r.tier}" if r.tier is not None else ""]
    return ", ".join(p for p in parts if p) or "-"


def images_line(data: Contents) -> str:
    """The blob cache and the image layers that boxes share: 'images: 7 cached blobs
    (12.0 MiB), 2 image layers shared by several boxes (100.0 MiB)'."""
    count, blob_bytes = data.blobs
    shared, shared_bytes = data.shared_image_layers()
    blob_size, shared_size = in_one_unit([blob_bytes, shared_bytes])
    blobs = f"{count} cached blob{'s' * (count != 1)} ({blob_size})"
    layers = f"{shared} image layer{'s' * (shared != 1)} shared by several boxes"
    return f"images: {blobs}, {layers} ({shared_size})"


def listing(st: Store) -> list[str]:
    data = read(st)
    if not data.layers and not data.boxes:
        return ["no boxes yet (devbox build makes one)", f"store: {st.root}"]

    lines = ["boxes (projects):"]
    sizes = in_one_unit([data.box_size(b) for b in data.boxes])
    writable = in_one_unit([b.writable for b in data.boxes])
    box_rows = [["BOX", "PATH", "LAYERS", "SIZE", "WRITABLE", "LAST USED", "STATE"]]
    for n, b in enumerate(data.boxes):
        missing = sum(d not in data.layers for d in b.layers)
        notes = [f"{b.image_layers} image"] * (b.image_layers > 0)
        notes += [f"{missing} missing"] * (missing > 0)
        box_rows.append(
            [
                b.name,
                printable(b.path) + (" (gone)" if b.gone else ""),
                str(len(b.layers)) + (f" ({', '.join(notes)})" if notes else ""),
                sizes[n],
                writable[n],
                when(b.used),
                "running" if b.running else "",
            ]
        )
    lines += table(box_rows, right=frozenset({3, 4})) if data.boxes else ["  none"]

    lines.append("layers:")
    users = data.users()
    ordered = data.ordered()
    sizes = in_one_unit([r.size for r in ordered])
    layer_rows = [["ID", "LAYER", "BUILT ON", "SIZE", "USED BY"]]
    for r, size in zip(ordered, sizes):
        by = users.get(r.digest, [])
        if not by:
            use = "unused (devbox gc frees it)"
        else:
            use = ", ".join(b.name + (" (gone)" if b.gone else "") for b in by)
            if all(b.gone and not b.running for b in by):
                use += "; devbox gc frees it"
        layer_rows.append([r.digest[:12], layer_what(r), layer_on(data, r), size, use])
    lines += table(layer_rows, right=frozenset({3})) if ordered else ["  none"]

    if data.has_images():
        lines.append(images_line(data))
    total, caches = in_one_unit([data.total(), data.caches])
    lines.append(
        f"store: {st.root}  total {total} on disk (shared layers counted once), caches {caches}"
    )
    return lines
