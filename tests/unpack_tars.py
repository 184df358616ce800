"""Layer tars built with tarfile for the unpacker's tests (tests/unit/test_unpack.py,
tests/security/test_image_layers.py), compressed with zlib or the zstd program, and the unpacker
run on them as its own process, as the builder runs it."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MEDIA = "application/vnd.oci.image.layer.v1.tar"
MTIME = 1_600_000_000


@dataclass
class E:
    """A tar entry: kind file, dir, symlink, link (hard), fifo, chr or blk."""

    name: str
    kind: str = "file"
    data: bytes = b""
    target: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: float = MTIME
    xattrs: dict[str, bytes] = field(default_factory=dict)
    pax: dict[str, str] = field(default_factory=dict)
    dev: tuple[int, int] = (0, 0)


TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "link": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
}


def make_tar(entries: list[E]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = TYPES[e.kind]
            info.mode, info.uid, info.gid, info.mtime = e.mode, e.uid, e.gid, e.mtime
            info.linkname = e.target
            info.devmajor, info.devminor = e.dev
            pax = dict(e.pax)
            for name, value in e.xattrs.items():
                pax[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
            info.pax_headers = pax
            if e.kind == "file":
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
            else:
                tar.addfile(info)
    return out.getvalue()


def compress(tar: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(tar, mtime=0)
    if how == "zstd":
        return subprocess.run(
            ["zstd", "-q", "-c"], input=tar, capture_output=True, check=True
        ).stdout
    return tar


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Result:
    code: int
    out: dict[str, object]
    err: str


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the unpacker's tests run as root (CI is root): owners, devices, trusted.*")
    if shutil.which("zstd") is None:
        pytest.fail("zstd is missing: apt install zstd")


def unpack(
    into: Path,
    blob: bytes | Path,
    *flags: str,
    media: str = MEDIA,
    prefix: tuple[str, ...] = (),
    python: tuple[str, str] | None = None,
) -> Result:
    """Run `python -m devbox.oci.unpack` (behind `prefix`, e.g. unshare) on the blob; `python`:
    another interpreter and PYTHONPATH (one another user can run)."""
    exe, path = python or (sys.executable, str(REPO))
    if isinstance(blob, bytes):
        file = into.parent / f"{into.name}.blob"
        file.write_bytes(blob)
        os.chmod(file, 0o644)
        blob = file
    argv = [
        *prefix,
        exe,
        "-m",
        "devbox.oci.unpack",
        "--into",
        str(into),
        "--media-type",
        media,
        "--blob",
        str(blob),
        *flags,
    ]
    env = {**os.environ, "PYTHONPATH": path}
    r = subprocess.run(argv, capture_output=True, env=env, timeout=120)
    err = r.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    out = json.loads(r.stdout) if r.returncode == 0 else {}
    if r.returncode != 0:
        assert r.stdout == b"" and err.count("\n") == 1 and err.startswith("devbox-unpack: "), err
    return Result(r.returncode, out, err)


def fresh(base: Path, name: str = "layer") -> Path:
    d = base / name
    d.mkdir(parents=True)
    return d
