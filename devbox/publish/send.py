"""Sending an OCI layout to a registry: `skopeo copy oci:DIR docker://REF`.

skopeo asks the registry for each blob first (HEAD) and uploads only those it does not have
("Copying blob ... skipped: already exists"); credentials, certs.d, registries.conf and retries
are skopeo's, as for a pull.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from devbox.errors import DevboxError
from devbox.oci import skopeo
from devbox.spec.imageref import DIGEST, parse_reference

_EXPLICIT_TAG = re.compile(r":[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def check_ref(ref: str) -> str:
    """`ref` if it names a tag or a digest (`registry/repo:tag`, `registry/repo@sha256:...`),
    else a DevboxError: a push never picks `latest` for you."""
    parsed = parse_reference(ref)
    rest = ref.partition("@")[0]
    if parsed.digest is None and not _EXPLICIT_TAG.search(rest.rpartition("/")[2]):
        raise DevboxError(
            f"{ref!r} names no tag: devbox pushes only to a tag or a digest",
            hint=f"add one, e.g. {ref}:1 or {ref}:latest",
        )
    if "/" not in parsed.name:
        raise DevboxError(f"{ref!r} names no registry",
                          hint="write it out, e.g. registry.example.com/team/box:1")  # fmt: skip
    return ref


def push_layout(layout: Path, ref: str, log: Path) -> str:
    """Push the one image of the OCI layout `layout` to `ref`; the pushed manifest digest."""
    check_ref(ref)
    with tempfile.TemporaryDirectory(prefix="devbox-push-") as tmp:
        digest_file = Path(tmp) / "digest"
        argv = [skopeo.tool(), "copy", "--retry-times", skopeo.RETRIES, "--digestfile",
                str(digest_file), f"oci:{layout}", f"docker://{ref}"]  # fmt: skip
        rc, _, err = skopeo._run(argv, log)
        if rc != 0:
            e = skopeo.explain(ref, err.decode(errors="replace"))
            raise DevboxError(
                e.message.replace(f"pulling {ref}", f"pushing to {ref}", 1), hint=e.hint
            ) from None
        digest = digest_file.read_text().strip() if digest_file.is_file() else ""
    if not DIGEST.match(digest):
        raise DevboxError(f"pushing to {ref}: skopeo did not say which digest it pushed",
                          log=str(log))  # fmt: skip
    return digest
