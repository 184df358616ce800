"""`devbox export` and `devbox push`: a built box as an OCI image.

The box's expanded stack (an image base's layers below it) is packed layer by layer
(`packed.pack_layer`, cached), the writable layer too with `--with-changes`, and written as an
OCI layout in a temp dir: beside PATH for an export (renamed into place, or turned into an
archive by `skopeo copy`), under the store's staging for a push (`skopeo copy` to the registry).
Nothing is left half-written: a failure or Ctrl-C removes the temp dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.errors import DevboxError, printable
from devbox.oci import skopeo
from devbox.plan import resolve
from devbox.publish import config as cfg
from devbox.publish.layout import write_layout
from devbox.publish.packed import Packed, cached, pack_layer, pack_tree, staging
from devbox.publish.send import check_ref, push_layout
from devbox.sandbox.host import Tier
from devbox.spec.model import Spec
from devbox.store import layers as store
from devbox.store import private
from devbox.store.fs import remove_tree
from devbox.store.paths import ProjectPaths, Store

FORMATS = ("oci", "oci-archive", "docker-archive")
Say = Callable[[str], None]


@dataclass(frozen=True)
class Image:
    layers: list[Packed]
    config: dict[str, Any]


def built_stack(spec: Spec, st: Store, tier: Tier) -> list[str]:
    found = resolve.stack(spec, st, tier.key)
    if found is None:
        raise DevboxError(
            f"{printable(spec.name)}: the box is not built (or devbox.toml or devbox.lock "
            "changed since its last build)",
            hint="run `devbox build` first",
        )
    return found


def make_image(
    spec: Spec, spec_bytes: bytes, st: Store, tier: Tier, log: Path, say: Say,
    changes: bool = False,
) -> Image:  # fmt: skip
    """Pack the box's layers (and its writable layer with `changes`); its image config."""
    stack = built_stack(spec, st, tier)
    expanded = store.expand(st, stack) if spec.base.kind == "oci" else stack
    metas = {d: store.read_meta(st, d) for d in expanded}
    n = len(expanded) + (1 if changes else 0)
    packed: list[Packed] = []
    for i, key in enumerate(expanded, 1):
        meta = metas[key]
        before = cached(st, key, meta.created) is not None
        p = pack_layer(st, tier, key, log, _prefixed(say, f"layer {i}/{n}: "))
        packed.append(p)
        how = " (packed before)" if before else ""
        say(f"layer {i}/{n}: {printable(meta.title)}, {p.size / 2**20:.1f} MiB{how}")
    if changes:
        upper = ProjectPaths(st.project_dir(spec.project)).upper
        with _tree_or_empty(st, upper) as tree:
            p = pack_tree(st, tier, tree, log, lambda msg: say(f"layer {n}/{n}: {msg}"))
        packed.append(p)
        say(f"layer {n}/{n}: the writable layer, {p.size / 2**20:.1f} MiB")
    roots = [st.layer_rootfs(d) for d in reversed(expanded)]
    config = cfg.image_config(spec, spec_bytes, [metas[d] for d in stack],
                              [metas[d] for d in expanded], roots, changes)  # fmt: skip
    return Image(packed, config)


def _prefixed(say: Say, prefix: str) -> Say:
    return lambda msg: say(prefix + msg)


@contextlib.contextmanager
def _tree_or_empty(st: Store, upper: Path) -> Iterator[Path]:
    """The writable layer, or an empty dir when the box was never entered."""
    if os.path.lexists(upper):
        yield upper
        return
    with staging(st) as stage:
        (stage / "empty").mkdir()
        yield stage / "empty"


def _name(spec: Spec) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", spec.name.lower()).strip("._-") or "box"


def archive_name(spec: Spec, tag: str | None) -> str:
    """The image name a docker archive carries: `--tag` (a bare name under localhost/, `:latest`
    added), else localhost/BOX:latest."""
    name = tag or f"localhost/{_name(spec)}"
    if "/" not in name:
        name = f"localhost/{name}"
    if ":" not in name.rpartition("/")[2]:
        name += ":latest"
    return name


def _target(path: Path) -> Path:
    """PATH as given, refused if it is something export would not replace."""
    path = Path(os.path.abspath(path))
    if not path.parent.is_dir():
        raise DevboxError(f"{printable(str(path.parent))} is not a directory")
    return path


def _replace_dir(tmp: Path, path: Path) -> None:
    """Rename the layout `tmp` to `path`: an empty dir or an OCI layout there is replaced."""
    if os.path.lexists(path):
        old = path.is_dir() and not path.is_symlink()
        if not old or (os.listdir(path) and not (path / "oci-layout").is_file()):
            raise DevboxError(f"{printable(str(path))} exists and is not an OCI layout",
                              hint="name a new path, or remove it first")  # fmt: skip
        aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.rename(path, aside / "layout")
        os.rename(tmp, path)
        remove_tree(aside)
        return
    os.rename(tmp, path)


def export(
    spec: Spec, spec_bytes: bytes, st: Store, tier: Tier, path: Path, log: Path, say: Say, *,
    fmt: str = "oci", tag: str | None = None, changes: bool = False,
) -> str:  # fmt: skip
    """Write the box's image at `path` as `fmt`; returns its manifest digest."""
    if fmt not in FORMATS:
        raise DevboxError(f"unknown format {fmt!r}", hint=f"one of {', '.join(FORMATS)}")
    path = _target(path)
    image = make_image(spec, spec_bytes, st, tier, log, say, changes)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.devbox-", dir=path.parent))
    try:
        layout = tmp / "layout"
        ref_name = None if fmt == "docker-archive" else (tag or "latest")
        digest = write_layout(st, layout, image.layers, image.config, ref_name)
        if fmt == "oci":
            _replace_dir(layout, path)
        else:
            dest = f"{fmt}:{tmp / 'image.tar'}"
            dest += f":{archive_name(spec, tag)}" if fmt == "docker-archive" else f":{ref_name}"
            say(f"writing {fmt} {printable(str(path))}")
            rc, _, err = skopeo._run([skopeo.tool(), "copy", f"oci:{layout}", dest], log)
            if rc != 0:
                last = err.decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
                raise DevboxError(f"writing {fmt} failed: skopeo: {printable(last[0])}",
                                  log=str(log))  # fmt: skip
            os.replace(tmp / "image.tar", path)
    finally:
        remove_tree(tmp)
    return digest


def push(
    spec: Spec, spec_bytes: bytes, st: Store, tier: Tier, ref: str, log: Path, say: Say, *,
    changes: bool = False,
) -> str:  # fmt: skip
    """Push the box's image to `ref` (a tag or a digest); record it in the project's state dir
    (pushed.json: ref, digest, time); returns the pushed manifest digest."""
    check_ref(ref)
    image = make_image(spec, spec_bytes, st, tier, log, say, changes)
    with staging(st) as stage:
        write_layout(st, stage / "layout", image.layers, image.config)
        say(f"pushing to {printable(ref)}")
        digest = push_layout(stage / "layout", ref, log)
    record = {"ref": ref, "digest": digest, "time": time.time()}
    project = private.mkdirs(st.project_dir(spec.project))
    fd, tmp = tempfile.mkstemp(prefix=".pushed-", dir=project)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, sort_keys=True)
    os.replace(tmp, project / "pushed.json")
    return digest
