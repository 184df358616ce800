"""Image references (`registry[:port]/repository[:tag][@sha256:...]`), checked when the spec is
read, so a bad `base = "oci:..."` names its file and line."""

from __future__ import annotations

import re
from dataclasses import dataclass

from devbox.errors import DevboxError

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")  # the only digests devbox reads


@dataclass(frozen=True)
class Reference:
    name: str  # registry/repository, as written
    tag: str | None
    digest: str | None

    def by_digest(self, digest: str) -> str:
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        return (
            self.name
            + (f":{self.tag}" if self.tag else "")
            + (f"@{self.digest}" if self.digest else "")
        )


_NAME = re.compile(r"^[a-z0-9]+([._:-]?[a-z0-9]+)*(/[a-z0-9]+([._-]|__|-+)?[a-z0-9_.-]*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def parse_reference(text: str) -> Reference:
    """`registry[:port]/repo[:tag][@sha256:...]`; the registry part may be left out (skopeo
    then takes docker.io, as docker does)."""
    rest, _, digest = text.partition("@")
    if digest and not DIGEST.match(digest):
        raise DevboxError(f"{text!r}: {digest!r} is not a sha256 digest (sha256:<64 hex digits>)")
    name, tag = rest, None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.match(tag):
            raise DevboxError(f"{text!r}: {tag!r} is not a valid tag")
    _host, _, path = name.partition("/")
    if not name or not _NAME.match(name.lower() if path else name) or name.endswith("/"):
        raise DevboxError(f"{text!r} is not an image reference (registry/repository[:tag])")
    if path and path != path.lower():
        raise DevboxError(f"{text!r}: repository names are lower case ({path.lower()!r})")
    return Reference(name, tag or (None if digest else "latest"), digest or None)
