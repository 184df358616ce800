"""Pure parts of images in: references, choosing an index's platform, manifests and configs."""

from __future__ import annotations

import json

import pytest

from devbox.errors import DevboxError
from devbox.oci import manifest as mf

D = "sha256:" + "a" * 64
E = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("text", "name", "tag", "digest"),
    [
        ("127.0.0.1:5000/test/base:1", "127.0.0.1:5000/test/base", "1", None),
        ("localhost:5000/team/base", "localhost:5000/team/base", "latest", None),
        ("docker.io/library/ubuntu:24.04", "docker.io/library/ubuntu", "24.04", None),
        (f"debian@{D}", "debian", None, D),
        (f"ghcr.io/o/t:1.2@{D}", "ghcr.io/o/t", "1.2", D),
    ],
)
def test_references(text: str, name: str, tag: str | None, digest: str | None) -> None:
    ref = mf.parse_reference(text)
    assert (ref.name, ref.tag, ref.digest) == (name, tag, digest)
    assert ref.by_digest(E) == f"{name}@{E}"


@pytest.mark.parametrize("text", ["", "a b", "x:5000/", "x/y:bad!", f"x@{D[:20]}", "x/Y:1"])
def test_bad_references_are_refused(text: str) -> None:
    with pytest.raises(DevboxError):
        mf.parse_reference(text)


def _index(*platforms: tuple[str, str, str]) -> bytes:
    entries = [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
         "digest": "sha256:" + str(i) * 64,
         "platform": {"os": o, "architecture": a, **({"variant": v} if v else {})}}
        for i, (o, a, v) in enumerate(platforms, 1)
    ]  # fmt: skip
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": entries}  # fmt: skip
    return json.dumps(doc).encode()


def test_an_index_gives_this_platform_or_names_what_it_has() -> None:
    raw = _index(("linux", "arm64", "v8"), ("linux", "amd64", ""))
    assert mf.kind(raw) == "index"
    assert mf.choose(raw, ("linux", "amd64", "")) == ("sha256:" + "2" * 64, "linux/amd64")
    assert mf.choose(raw, ("linux", "arm64", "v8"))[1] == "linux/arm64/v8"
    with pytest.raises(DevboxError, match=r"no linux/s390x variant \(it has: linux/amd64, "):
        mf.choose(raw, ("linux", "s390x", ""))


def test_schema1_and_unknown_manifests_are_refused() -> None:
    with pytest.raises(DevboxError, match="schema 1"):
        mf.kind(b'{"schemaVersion": 1, "fsLayers": []}')
    with pytest.raises(DevboxError, match="not JSON"):
        mf.kind(b"<html>")


def test_a_manifest_and_its_config() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 9,
                   "digest": D},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 5, "digest": E}],
    }  # fmt: skip
    raw = json.dumps(doc).encode()
    assert mf.kind(raw) == "manifest"
    m = mf.parse_manifest(raw)
    assert m.config.digest == D and [b.digest for b in m.layers] == [E]
    doc["layers"] = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+xz", "size": 1,
                      "digest": E}]  # fmt: skip
    with pytest.raises(DevboxError, match="not a filesystem layer"):
        mf.parse_manifest(json.dumps(doc).encode())
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [D]},
        "config": {"Env": ["PATH=/x", "bad"], "WorkingDir": "/w"},
    }
    c = mf.parse_config(json.dumps(config).encode())
    assert c.diff_ids == (D,) and c.env == ("PATH=/x",) and c.workdir == "/w"
    with pytest.raises(DevboxError, match="diff_ids"):
        mf.parse_config(b'{"rootfs": {"diff_ids": ["nope"]}}')
