"""Unpack one image layer (a tar, plain, gzip or zstd) into an overlayfs layer directory.

    python -m devbox.oci.unpack --into DIR --media-type MT (--blob PATH | --fd N)
           [--digest sha256:HEX] [--diff-id sha256:HEX] [--single-id] [--userxattr]

Run by the builder as its own process inside the tier's user namespace, so it is root over the
layer's ids. The blob is read once: its digest (the bytes as read) and diff id (the tar) are
checked as it streams, its entries written without following a symlink (`tarsafe`).

Exit 0 with one JSON line on stdout ({"files", "bytes", "devices_skipped", "diff_id",
"digest", "compression"}); 3 with `devbox-unpack: REASON` on stderr when the layer is damaged,
hostile or not what its digests say; 1 (one line too) for anything else (no space, I/O). The
caller deletes DIR on failure.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import sys
import tarfile
from typing import NoReturn

from devbox.errors import printable
from devbox.oci.layermeta import Info
from devbox.oci.layerstream import BadLayer, Layer
from devbox.oci.tarsafe import Tree

EXIT_BAD = 3
OCI = "application/vnd.oci.image.layer"
DOCKER = "application/vnd.docker.image.rootfs"
MEDIA_TYPES = frozenset({
    f"{OCI}.v1.tar", f"{OCI}.v1.tar+gzip", f"{OCI}.v1.tar+zstd",
    f"{OCI}.nondistributable.v1.tar", f"{OCI}.nondistributable.v1.tar+gzip",
    f"{OCI}.nondistributable.v1.tar+zstd",
    f"{DOCKER}.diff.tar.gzip", f"{DOCKER}.foreign.diff.tar.gzip", f"{DOCKER}.diff.tar",
    "tar", "tar+gzip", "tar+zstd",
})  # fmt: skip
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class Usage(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        say(f"usage: {message}")
        sys.exit(1)


def parse(argv: list[str]) -> argparse.Namespace:
    p = Usage(prog="python -m devbox.oci.unpack", description=__doc__.splitlines()[0])
    p.add_argument("--into", required=True, help="an existing empty directory")
    p.add_argument("--media-type", required=True)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--blob", help="the layer blob's path")
    src.add_argument("--fd", type=int, help="an inherited fd open on the blob")
    p.add_argument("--digest", help="sha256 of the blob's bytes")
    p.add_argument("--diff-id", help="sha256 of the uncompressed tar")
    p.add_argument("--single-id", action="store_true", help="the namespace maps one id: no chown")
    p.add_argument("--userxattr", action="store_true", help="opaque marks as user.overlay.*")
    args = p.parse_args(argv)
    for flag in ("digest", "diff_id"):
        value = getattr(args, flag)
        if value is not None and not DIGEST.fullmatch(value):
            p.error(f"--{flag.replace('_', '-')} must be sha256:<64 hex digits>, not {value}")
    return args


def say(reason: str) -> None:
    line = f"devbox-unpack: {printable(reason)}\n"  # one line: the reason's own are escaped
    sys.stderr.write(printable(line, keep="\n"))
    sys.stderr.flush()


def unpack(args: argparse.Namespace) -> dict[str, object]:
    if args.media_type not in MEDIA_TYPES:
        raise BadLayer(f"a layer of media type {args.media_type}, which devbox does not unpack")
    root = os.open(args.into, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    if os.listdir(root):
        raise OSError(errno.ENOTEMPTY, "the layer directory is not empty", args.into)
    fd = args.fd if args.blob is None else os.open(args.blob, os.O_RDONLY | os.O_CLOEXEC)
    os.umask(0)
    opaque = b"user.overlay.opaque" if args.userxattr else b"trusted.overlay.opaque"
    tree = Tree(root, chown=not args.single_id, opaque=opaque)
    layer = Layer(fd)
    try:
        tar = tarfile.TarFile(fileobj=layer.tar, mode="r", tarinfo=Info, encoding="utf-8",
                              errors="surrogateescape")  # fmt: skip
        while (m := tar.next()) is not None:
            tar.members.clear()  # type: ignore[attr-defined]  # streaming: keep none
            data = tar.extractfile(m) if m.issparse() else layer.tar
            tree.add(m, data)
        tree.finish()
        digest, diff_id = layer.digests()
    finally:
        layer.close()
        tree.close()
    for flag, want, got in (("digest", args.digest, digest), ("diff id", args.diff_id, diff_id)):
        if want is not None and want != got:
            raise BadLayer(f"the layer's {flag} is {got}, not {want} as its image says: "
                           "a damaged or substituted blob")  # fmt: skip
    return {"files": tree.files, "bytes": tree.bytes, "devices_skipped": tree.devices,
            "diff_id": diff_id, "digest": digest, "compression": layer.compression}  # fmt: skip


def os_reason(e: OSError) -> str:
    names = [os.fsdecode(n) for n in (e.filename, e.filename2) if n not in (None, "")]
    what = (e.strerror or str(e)).lower() if e.errno == errno.ENOSPC else e.strerror or str(e)
    return ": ".join([what, *names])


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        result = unpack(args)
    except BadLayer as e:
        say(str(e))
        return EXIT_BAD
    except tarfile.TarError as e:
        say(f"not a readable tar archive ({e})")
        return EXIT_BAD
    except OSError as e:
        say(os_reason(e))
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug: still one line, never a traceback
        say(f"internal error: {type(e).__name__}: {e}")
        return 1
    sys.stdout.write(printable(json.dumps(result) + "\n", keep="\n"))  # ASCII JSON anyway
    return 0


if __name__ == "__main__":
    sys.exit(main())
