"""Each image layer as a store layer: unpacked once per uid map, shared by every image that has it.

A layer's key is its diff ID (the digest of its uncompressed tar) with the tier's uid map and the
unpacker's version: two images that share a layer share its directory. The unpacker
(devbox.oci.unpack) runs as root of the tier's user namespace, so the layer's owners are mapped
through the tier's map as they are written (tier 3, a single id: every file is the user's).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from devbox.errors import DevboxError, printable
from devbox.oci import manifest as mf
from devbox.sandbox import host
from devbox.sandbox.host import Tier
from devbox.store import fs, private
from devbox.store import layers as store
from devbox.store.paths import Store

UNPACKER_VERSION = 1
KIND = "image-layer"


def layer_key(diff_id: str, idmap: str) -> str:
    doc = {"image-layer": diff_id, "idmap": idmap, "unpacker": UNPACKER_VERSION}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def unpack_argv(
    tier: Tier, into: Path, media_type: str, *, blob: Path | None = None, fd: int | None = None,
    digest: str | None = None, diff_id: str | None = None,
) -> list[str]:  # fmt: skip
    """The unpacker as a command, inside the tier's user namespace (tiers 2 and 3)."""
    argv = [sys.executable, "-m", "devbox.oci.unpack", "--into", str(into),
            "--media-type", media_type]  # fmt: skip
    argv += ["--blob", str(blob)] if blob is not None else ["--fd", str(fd)]
    if digest:
        argv += ["--digest", digest]
    if diff_id:
        argv += ["--diff-id", diff_id]
    if tier.level == 3:
        argv.append("--single-id")
    if tier.level > 1:
        argv.append("--userxattr")
    prefix: list[str] = []
    if tier.userns is not None:
        prefix = [host.tool("unshare"), *tier.userns.unshare_flags, "--"]
    return [host.tool("setpriv"), "--pdeathsig", "KILL", "--", *prefix, *argv]


def run_unpacker(argv: list[str], log: Path, what: str, pass_fds: tuple[int, ...] = ()) -> None:
    """Run the unpacker; its refusal (exit 3) or failure in devbox's words."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    private.mkdirs(log.parent)
    with open(log, "ab") as logf:
        logf.write(("\n$ " + " ".join(argv) + "\n").encode(errors="replace"))
        logf.flush()
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.PIPE, env=env,
            pass_fds=pass_fds, start_new_session=True,
        )  # fmt: skip
        logf.write(proc.stderr)
    if proc.returncode == 0:
        return
    lines = [ln for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
    said = lines[-1].removeprefix("devbox-unpack: ") if lines else f"exit {proc.returncode}"
    failure = host.userns_failure(said) if proc.returncode not in (1, 3) else None
    if failure is not None:
        raise failure
    if proc.returncode == 3:
        raise DevboxError(
            f"{what} is refused: {printable(said)}",
            hint="an image layer may hold only its own files (no `..` names, no writing "
            "through links, no overlay attributes); rebuild the image, or use another",
            log=str(log),
        )
    raise DevboxError(f"unpacking {what} failed: {printable(said)}", log=str(log))


def ensure_layers(
    st: Store,
    image_layers: tuple[mf.Blob, ...],
    diff_ids: tuple[str, ...],
    tier: Tier,
    blob_of: Callable[[str], Path],
    log: Path,
    say: Callable[[str], None],
    arch: str,
    made: list[str],
) -> list[str]:
    """The store keys of the image's layers, bottom first, unpacking those not stored yet
    (their keys appended to `made`)."""
    keys: list[str] = []
    n = len(image_layers)
    for i, (blob, diff_id) in enumerate(zip(image_layers, diff_ids), 1):
        key = layer_key(diff_id, tier.key)
        keys.append(key)
        if store.has_layer(st, key):
            continue
        with fs.flocked(st.layer_lock(key)):
            if store.has_layer(st, key):
                continue
            say(f"unpacking layer {i}/{n} ({blob.size / 2**20:.1f} MiB)")
            _unpack_one(st, key, blob, diff_id, tier, blob_of(blob.digest), log, arch, f"{i}/{n}")
            made.append(key)
    return keys


def _unpack_one(
    st: Store, key: str, blob: mf.Blob, diff_id: str, tier: Tier, path: Path, log: Path,
    arch: str, pos: str,
) -> None:  # fmt: skip
    lb = store.LayerBuild(st, key, host.remover(tier))
    try:
        argv = unpack_argv(tier, lb.rootfs, blob.media_type, blob=path, digest=blob.digest,
                           diff_id=diff_id)  # fmt: skip
        try:
            run_unpacker(argv, log, f"image layer {pos} ({blob.digest[:19]})")
        except DevboxError as e:
            if "digest" in e.message and "sha256" in e.message:
                # the cached blob is not what its name says: drop it, the next pull fetches it
                path.unlink(missing_ok=True)
            raise
        meta = store.LayerMeta(
            digest=key, kind=KIND, parent=None,
            recipe={"diff_id": diff_id, "blob": blob.digest, "media_type": blob.media_type},
            title=f"image layer {diff_id[7:19]}", size=fs.disk_usage(lb.rootfs),
            created=time.time(), tier=tier.level, packages={}, arch=arch,
        )  # fmt: skip
        if not lb.commit(meta):
            lb.abort()
    except BaseException:
        lb.abort()
        raise
