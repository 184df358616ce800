"""Image references, manifests, indexes and configs: pure parsing, and choosing a platform.

Docker schema 2 and OCI manifests and indexes are read as the distribution spec and the OCI
image spec define them; a registry's bytes are trusted only after their digest is checked.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from typing import Any

from devbox.errors import DevboxError
from devbox.spec.imageref import DIGEST, Reference, parse_reference

__all__ = ["Reference", "parse_reference"]

INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
MANIFEST_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
)
LAYER_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)
# machine -> (GOARCH, variant), as images name platforms
_ARCH = {
    "x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"), "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
    "i686": ("386", ""), "i386": ("386", ""), "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
}  # fmt: skip
# Debian's names for the same architectures (dpkg --print-architecture)
DEB_ARCH = {"amd64": "amd64", "arm64": "arm64", "arm": "armhf", "386": "i386",
            "ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64"}  # fmt: skip


def host_platform() -> tuple[str, str, str]:
    """(os, architecture, variant) of this machine, in the image spec's words."""
    arch, variant = _ARCH.get(platform.machine(), (platform.machine(), ""))
    return "linux", arch, variant


def platform_name(os_: str, arch: str, variant: str = "") -> str:
    return f"{os_}/{arch}" + (f"/{variant}" if variant else "")


def digest_of(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise DevboxError(f"the registry's {what} is not JSON ({e})") from None
    if not isinstance(doc, dict):
        raise DevboxError(f"the registry's {what} is not a JSON object")
    return doc


def kind(raw: bytes) -> str:
    """ "index" or "manifest" (or a DevboxError for anything else, e.g. docker schema 1)."""
    doc = _json(raw, "manifest")
    media = doc.get("mediaType")
    if media in INDEX_TYPES or (media is None and "manifests" in doc):
        return "index"
    if media in MANIFEST_TYPES or (media is None and "layers" in doc and "config" in doc):
        return "manifest"
    if doc.get("schemaVersion") == 1:
        raise DevboxError(
            "the image has a docker schema 1 manifest, which devbox does not read",
            hint="push it again with a current client (it then gets a schema 2 or OCI manifest)",
        )
    raise DevboxError(f"the registry sent a manifest of an unknown type ({media!r})")


@dataclass(frozen=True)
class Blob:
    digest: str
    media_type: str
    size: int


def _blob(d: object, what: str) -> Blob:
    if not isinstance(d, dict):
        raise DevboxError(f"the image's {what} is not a descriptor")
    digest, media, size = d.get("digest"), d.get("mediaType", ""), d.get("size", 0)
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise DevboxError(f"the image's {what} has no sha256 digest ({digest!r})")
    if not isinstance(media, str) or not isinstance(size, int) or size < 0:
        raise DevboxError(f"the image's {what} has a bad media type or size")
    return Blob(digest, media, size)


def choose(raw: bytes, want: tuple[str, str, str] | None = None) -> tuple[str, str]:
    """The manifest digest an index gives for this machine's platform, and the platform's name.
    Missing: an error naming the platforms there are."""
    os_, arch, variant = want or host_platform()
    doc = _json(raw, "index")
    entries = doc.get("manifests")
    if not isinstance(entries, list):
        raise DevboxError("the image index lists no manifests")
    found: list[tuple[str, str, str, str]] = []
    for i, e in enumerate(entries):
        p = e.get("platform") if isinstance(e, dict) else None
        if not isinstance(p, dict):
            continue
        b = _blob(e, f"index entry {i}")
        found.append((b.digest, str(p.get("os", "")), str(p.get("architecture", "")),
                      str(p.get("variant", "") or "")))  # fmt: skip
    exact = [f for f in found if f[1:] == (os_, arch, variant)]
    loose = [f for f in found if f[1:3] == (os_, arch) and (not f[3] or not variant)]
    picks = exact or loose
    if not picks:
        there = sorted({platform_name(*f[1:]) for f in found}) or ["none"]
        raise DevboxError(
            f"the image has no {platform_name(os_, arch, variant)} variant "
            f"(it has: {', '.join(there)})",
            hint="use an image built for this machine's platform",
        )
    return picks[0][0], platform_name(*picks[0][1:])


@dataclass(frozen=True)
class Manifest:
    config: Blob
    layers: tuple[Blob, ...]


def parse_manifest(raw: bytes) -> Manifest:
    doc = _json(raw, "manifest")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise DevboxError("the image manifest lists no layers")
    out = tuple(_blob(d, f"layer {i + 1}") for i, d in enumerate(layers))
    for i, b in enumerate(out):
        if b.media_type not in LAYER_TYPES:
            raise DevboxError(
                f"layer {i + 1} of the image is {b.media_type!r}, not a filesystem layer devbox "
                "can unpack (tar, tar+gzip or tar+zstd)"
            )
    return Manifest(_blob(doc.get("config"), "config"), out)


@dataclass(frozen=True)
class Config:
    diff_ids: tuple[str, ...]
    env: tuple[str, ...]  # NAME=value, in the image's order
    workdir: str
    os: str
    arch: str
    variant: str


def parse_config(raw: bytes) -> Config:
    doc = _json(raw, "image config")
    rootfs = doc.get("rootfs") if isinstance(doc.get("rootfs"), dict) else {}
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(
        isinstance(d, str) and DIGEST.match(d) for d in diff_ids
    ):
        raise DevboxError("the image config has no valid rootfs.diff_ids")
    conf = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    env = conf.get("Env") if isinstance(conf, dict) else None
    workdir = conf.get("WorkingDir") if isinstance(conf, dict) else None
    return Config(
        diff_ids=tuple(diff_ids),
        env=tuple(e for e in env or () if isinstance(e, str) and "=" in e),
        workdir=workdir if isinstance(workdir, str) else "",
        os=str(doc.get("os", "")),
        arch=str(doc.get("architecture", "")),
        variant=str(doc.get("variant", "") or ""),
    )
