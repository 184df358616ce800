"""Store layers packed as OCI image layers: an uncompressed tar blob in the blob cache, a record.

The packer (`python -m devbox.publish.pack`) runs as its own process in the tier's user
namespace and writes a tar on its stdout; nothing it says is trusted beyond those bytes. Here
they are hashed (the diff ID, which is also the blob's digest) as they are written into a staging
dir under `STORE/oci/` (held by a lock, as a pull's is: gc removes a dead one) and renamed into
`blobs/sha256/<hex>`; then the record `packed/<key>.json` is written (with the layer meta's
`created`: a layer built again under the same key is packed again). A record is only ever
written after its blob is in place.

Why no compression here: an export is read from a local disk (`docker save` and `podman save`
write plain tars too), its digests are then the diff IDs, the same whatever zlib a machine has;
and a push is compressed by skopeo as it sends (in parallel, and remembered in its blob info
cache, so an unchanged layer is not compressed or sent again), as `podman push` does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from devbox.errors import DevboxError, printable
from devbox.sandbox import host
from devbox.sandbox.host import Tier
from devbox.store import layers as store
from devbox.store import private
from devbox.store.fs import flocked, remove_tree
from devbox.store.paths import Store

LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
PACKER_VERSION = 2  # 2: the blob is the tar, uncompressed
STAGING = ".tmp-"  # as a pull's: STORE/oci/.tmp-NAME held by .tmp-NAME.lock (gc knows them)
CHUNK = 1 << 20


@dataclass(frozen=True)
class Packed:
    key: str  # the store layer key it was packed from ("" for a writable layer)
    diff_id: str  # "sha256:<hex>" of the uncompressed tar
    digest: str  # "sha256:<hex>" of the blob in st.blobs/sha256/<hex> (the tar: = diff_id)
    size: int  # the blob's size in bytes
    media_type: str = LAYER_TAR


def blob_path(st: Store, digest: str) -> Path:
    return st.blobs / "sha256" / digest.removeprefix("sha256:")


def record_path(st: Store, key: str) -> Path:
    return st.packed / f"{key}.json"


def epoch() -> int | None:
    """SOURCE_DATE_EPOCH, when set to whole seconds: mtimes are clamped to it."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(value) if value.isdigit() else None


def pack_argv(tier: Tier, root: Path) -> list[str]:
    """The packer as a command, inside the tier's user namespace (tiers 2 and 3)."""
    argv = [sys.executable, "-m", "devbox.publish.pack", "--root", str(root)]
    if tier.level == 3:
        argv.append("--single-id")
    if tier.level > 1:
        argv.append("--userxattr")
    when = epoch()
    if when is not None:
        argv += ["--epoch", str(when)]
    prefix: list[str] = []
    if tier.userns is not None:
        prefix = [host.tool("unshare"), *tier.userns.unshare_flags, "--"]
    return [host.tool("setpriv"), "--pdeathsig", "KILL", "--", *prefix, *argv]


def cached(st: Store, key: str, created: float) -> Packed | None:
    """The record of `key` packed from the layer made at `created`, if its blob is there."""
    try:
        d = json.loads(record_path(st, key).read_text())
        packed = Packed(d["key"], d["diff_id"], d["digest"], int(d["size"]), d["media_type"])
        if d.get("created") != created or d.get("packer") != PACKER_VERSION or packed.key != key:
            return None
        if blob_path(st, packed.digest).stat().st_size != packed.size:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return packed


def pack_layer(st: Store, tier: Tier, key: str, log: Path, say: Callable[[str], None]) -> Packed:
    """The store layer `key` as an image layer (cached: packed once per build of the layer)."""
    meta = store.read_meta(st, key)
    found = cached(st, key, meta.created)
    if found is not None:
        return found
    with flocked(st.locks / f"pack-{key}.lock"):
        found = cached(st, key, meta.created)
        if found is not None:
            return found
        say(f"packing {printable(meta.title)}")
        packed = _pack(st, tier, st.layer_rootfs(key), key, log, printable(meta.title))
        record = {**packed.__dict__, "created": meta.created, "packer": PACKER_VERSION}
        _write_json(record_path(st, key), record)
        return packed


def pack_tree(st: Store, tier: Tier, path: Path, log: Path, say: Callable[[str], None]) -> Packed:
    """A directory that is no store layer (the project's writable layer), packed as one; never
    cached (it changes whenever the box runs)."""
    say("packing the writable layer")
    return _pack(st, tier, path, "", log, "the writable layer")


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    private.mkdirs(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=".new-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def staging(st: Store) -> Iterator[Path]:
    """A temp dir under STORE/oci/ held by its lock, as a pull's is (gc removes one whose holder
    died); removed on the way out, whatever happened."""
    private.mkdirs(st.oci)
    stage = Path(tempfile.mkdtemp(prefix=STAGING, dir=st.oci))
    lock = stage.with_name(stage.name + ".lock")
    try:
        with flocked(lock):
            try:
                yield stage
            finally:
                remove_tree(stage)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)


def _pack(st: Store, tier: Tier, root: Path, key: str, log: Path, what: str) -> Packed:
    with staging(st) as stage:
        blob = stage / "blob"
        diff_id, digest, size = _run(pack_argv(tier, root), blob, log, what)
        private.mkdirs(st.blobs / "sha256")
        os.replace(blob, blob_path(st, digest))  # same bytes if it was there
    return Packed(key, diff_id, digest, size, LAYER_TAR)


def _run(argv: list[str], blob: Path, log: Path, what: str) -> tuple[str, str, int]:
    """Run the packer; its tar hashed into `blob`: (diff ID, digest, size), the digest being
    the diff ID (the blob is the tar itself)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    private.mkdirs(log.parent)
    with open(log, "ab") as logf:
        logf.write(("\n$ " + " ".join(argv) + "\n").encode(errors="replace"))
    with tempfile.TemporaryFile() as err, open(blob, "xb") as out:
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env,
                start_new_session=True,
            )  # fmt: skip
        except OSError as e:
            raise DevboxError(f"cannot run the packer: {e.strerror}") from e
        assert proc.stdout is not None
        try:
            tar_hash, size = _copy(proc.stdout, out)
            rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            proc.stdout.close()
            host.end_session(proc.pid)
        err.seek(0)
        said_bytes = err.read()
    with open(log, "ab") as logf:
        logf.write(said_bytes)
    if rc == 0:
        return "sha256:" + tar_hash, "sha256:" + tar_hash, size
    lines = [ln for ln in said_bytes.decode(errors="replace").splitlines() if ln.strip()]
    said = lines[-1].removeprefix("devbox-pack: ") if lines else f"exit {rc}"
    failure = host.userns_failure(said) if rc not in (1, 3) else None
    if failure is not None:
        raise failure
    if rc == 3:
        raise DevboxError(
            f"packing {what} failed: {printable(said)}",
            hint="stop the box (or the build) that is changing it, and try again",
            log=str(log),
        )
    raise DevboxError(f"packing {what} failed: {printable(said)}", log=str(log))


def _copy(src: IO[bytes], out: IO[bytes]) -> tuple[str, int]:
    """Hash `src` (the tar) as it is written to `out`: (hex digest, size)."""
    tar_hash = hashlib.sha256()
    size = 0
    while chunk := src.read(CHUNK):
        tar_hash.update(chunk)
        out.write(chunk)
        size += len(chunk)
    out.flush()
    return tar_hash.hexdigest(), size
