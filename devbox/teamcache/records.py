"""A devbox image's labels: what each of its layers is (one record per store layer).

Written for a team-cache entry here (and by export for a whole box); read back from an image
pulled from a registry, whose config is untrusted: every field is checked for its type and
form before anything uses it, and nothing in a record is a path or a command devbox follows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.oci import manifest as mf
from devbox.plan import lockfile
from devbox.spec.model import Spec
from devbox.store import layers as store
from devbox.store.paths import Store

VERSION = "1"
PREFIX = "dev.devbox."
HEX64 = re.compile(r"[0-9a-f]{64}")
SHA = re.compile(r"sha256:[0-9a-f]{64}")
CONFIG_LIMIT = 1 << 22
KINDS = frozenset({"debian", "oci", "rootfs", "apt", "python", "node", "setup", "image-layer",
                   "changes"})  # fmt: skip


class Display(Protocol):
    """Where progress goes (the build display, devbox.build.progress.Display)."""

    def info(self, msg: str) -> None: ...

    def status(self, msg: str) -> None: ...


@dataclass(frozen=True)
class Record:
    """One layer of a devbox image, as its labels say (checked for form, not believed)."""

    kind: str
    title: str
    portable: str | None
    pins: dict[str, Any] | None
    recipe: dict[str, Any]
    image_diff_id: str | None
    lowers: tuple[int, ...] | None
    image: dict[str, Any] | None


@dataclass(frozen=True)
class Labels:
    box: str
    spec: str
    lock: str
    arch: str
    records: tuple[Record, ...]


def file_sha(path: Path) -> str:
    """ "sha256:<hex>" of a file's bytes ("" if it cannot be read). The file is in the working
    tree, the box's to write: a symlink is not followed (it reads as missing)."""
    try:
        return "sha256:" + hashlib.sha256(nofollow.read_file(path)).hexdigest()
    except (OSError, DevboxError):
        return ""


def record_of(meta: store.LayerMeta, portable: str | None) -> dict[str, Any]:
    """A store layer's record (common form; image_diff_id and lowers are export's business)."""
    return {"kind": meta.kind, "title": meta.title, "portable": portable, "pins": meta.pins,
            "packages": meta.packages, "recipe": meta.recipe, "image_diff_id": None,
            "lowers": None, "image": meta.image}  # fmt: skip


def labels_for(spec: Spec, arch: str, records: list[dict[str, Any]]) -> dict[str, str]:
    return {
        f"{PREFIX}version": VERSION,
        f"{PREFIX}box": spec.name,
        f"{PREFIX}spec": file_sha(spec.path),
        f"{PREFIX}lock": file_sha(lockfile.lock_path(spec)),
        f"{PREFIX}arch": arch,
        f"{PREFIX}layers": json.dumps(records, sort_keys=True, separators=(",", ":")),
    }


def read_config(st: Store, digest: str) -> dict[str, Any]:
    """A pulled image's config from the blob cache (its digest checked again)."""
    path = st.blobs / "sha256" / digest.removeprefix("sha256:")
    with open(path, "rb") as f:
        raw = f.read(CONFIG_LIMIT + 1)
    if len(raw) > CONFIG_LIMIT or mf.digest_of(raw) != digest:
        with contextlib.suppress(OSError):
            path.unlink()
        raise DevboxError(f"the cached blob {digest} was damaged; devbox removed it",
                          hint="run the command again to download it afresh")  # fmt: skip
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise DevboxError(f"the image config {digest} is not a JSON object")
    return doc


def parse_labels(config: dict[str, Any], ref: str, layers: int) -> Labels:
    """The devbox labels of an image config with `layers` layers; a DevboxError "REF is not a
    devbox image" when they are missing, of another version or malformed."""
    inner = config.get("config")
    raw = inner.get("Labels") if isinstance(inner, dict) else None
    labels = raw if isinstance(raw, dict) else {}

    def bad(why: str) -> DevboxError:
        return DevboxError(f"{ref} is not a devbox image ({why})",
                           hint="pull it with podman or skopeo; `devbox pull` takes images that "
                           "`devbox push` made")  # fmt: skip

    if not any(isinstance(k, str) and k.startswith(PREFIX) for k in labels):
        raise bad("it has no dev.devbox.* labels")
    if labels.get(f"{PREFIX}version") != VERSION:
        raise bad(f"label {PREFIX}version is not {VERSION!r}")
    text = {k: labels.get(f"{PREFIX}{k}") for k in ("box", "spec", "lock", "arch", "layers")}
    for k, value in text.items():
        if not isinstance(value, str):
            raise bad(f"label {PREFIX}{k} is missing")
    try:
        items = json.loads(str(text["layers"]))
    except ValueError:
        raise bad(f"label {PREFIX}layers is not JSON") from None
    if not isinstance(items, list) or not items:
        raise bad(f"label {PREFIX}layers is not a list of layers")
    records = tuple(_record(item, i, bad) for i, item in enumerate(items))
    if len(records) != layers:
        raise bad(f"{len(records)} layer records for {layers} image layers")
    if any(r.kind == "changes" for r in records[:-1]):
        raise bad("a record of the writable layer's changes that is not the last")
    return Labels(str(text["box"]), str(text["spec"]), str(text["lock"]), str(text["arch"]),
                  records)  # fmt: skip


def _record(item: object, i: int, bad: Any) -> Record:
    if not isinstance(item, dict):
        raise bad(f"layer record {i} is not an object")
    kind = item.get("kind")
    if kind not in KINDS:
        raise bad(f"layer record {i} has an unknown kind")
    if kind == "changes":
        return Record("changes", "changes", None, None, {}, None, None, None)
    title, portable, pins = item.get("title"), item.get("portable"), item.get("pins")
    recipe, diff_id, lowers = item.get("recipe"), item.get("image_diff_id"), item.get("lowers")
    image = item.get("image")
    if not isinstance(title, str) or not isinstance(recipe, dict):
        raise bad(f"layer record {i} has no title or recipe")
    if kind == "image-layer":
        if not (isinstance(diff_id, str) and SHA.fullmatch(diff_id)):
            raise bad(f"image-layer record {i} has no image_diff_id")
        portable = None
    elif not (isinstance(portable, str) and HEX64.fullmatch(portable)):
        raise bad(f"layer record {i} has no portable key")
    if pins is not None and not isinstance(pins, dict):
        raise bad(f"layer record {i}: pins is not an object")
    got_lowers: tuple[int, ...] | None = None
    if kind == "oci":
        if not isinstance(lowers, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n < i for n in lowers
        ):
            raise bad(f"oci record {i}: lowers must name the image-layer records below it")
        got_lowers = tuple(lowers)
    if image is not None and not _image_ok(image):
        raise bad(f"layer record {i}: image is malformed")
    return Record(kind, title, portable, pins, recipe,
                  diff_id if kind == "image-layer" else None, got_lowers, image)  # fmt: skip


def _image_ok(image: object) -> bool:
    """An image base's description: the fields the box reads (Env, WorkingDir, ...) typed."""
    if not isinstance(image, dict):
        return False
    env = image.get("env", [])
    if not isinstance(env, list) or not all(isinstance(e, str) and "=" in e for e in env):
        return False
    strings = ("os", "os_id", "workdir", "arch", "ref", "manifest")
    if any(not isinstance(image.get(k, ""), str) for k in strings):
        return False
    return isinstance(image.get("apt", False), bool)
