"""OCI image layouts written by hand, for layers no honest tool makes (a `../` entry, a write
through a symlink): one gzip tar layer, its config (with the layer's diff_id), the manifest and
index.json, as the image-spec describes them. `skopeo copy oci:DIR:TAG docker://...` pushes
one to the test registry (tests/images.py)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tests.registry import arch


@dataclass(frozen=True)
class Entry:
    """One tar member: a file (`data`), a directory (`kind="dir"`) or a symlink to `target`."""

    name: str
    kind: str = "file"  # "file", "dir" or "symlink"
    data: bytes = b""
    target: str = ""
    mode: int = 0o644


def layer_tar(entries: list[Entry]) -> bytes:
    """The uncompressed tar of `entries`, names exactly as given (tarfile does not clean them)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.mode = e.mode
            info.mtime = 0
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = e.target
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(layout: Path, data: bytes) -> str:
    digest = _sha(data)
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def write_layout(layout: Path, tag: str, entries: list[Entry]) -> str:
    """Write an OCI layout with a one-layer image tagged `tag`; returns the manifest digest."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    tar = layer_tar(entries)
    gz = gzip.compress(tar, mtime=0)
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": _blob(layout, gz), "size": len(gz)}  # fmt: skip
    config = json.dumps({
        "architecture": arch(), "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [_sha(tar)]},
    }).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _blob(layout, config), "size": len(config)},
        "layers": [layer],
    }).encode()  # fmt: skip
    digest = _blob(layout, manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
            "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    }  # fmt: skip
    (layout / "index.json").write_text(json.dumps(index))
    return digest


def dotdot() -> list[Entry]:
    """A layer whose entry climbs out of the rootfs: `../../escape`."""
    return [Entry("etc/", "dir"), Entry("../../escape", data=b"escaped\n")]


def symlink_out(target_dir: str) -> list[Entry]:
    """A layer that makes `evil` a symlink to a host directory, then writes `evil/pwned`
    (through the link, if the unpacker follows it)."""
    return [Entry("evil", "symlink", target=target_dir), Entry("evil/pwned", data=b"pwned\n")]
