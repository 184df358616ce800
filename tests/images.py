"""The test images, built here with real tools (mmdebstrap, podman, a hand-written OCI layout) and
pushed into a test registry (tests/registry.py) with real clients (podman push, skopeo copy),
once per test session: `build_images(reg, tmp)`.

podman runs as root with its own `--root`/`--runroot` under `tmp`, runc and cgroupfs, the host's
network and explicit ulimits (what this kind of machine needs: docs of bench/anchors.py).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.oci_layout import dotdot, symlink_out, write_layout
from tests.registry import Registry, arch, copy, run, skopeo

# the base's own files that `two` deletes (a whiteout) and replaces (an opaque directory)
BASE_HOOK = (
    'mkdir -p "$1/opt/replaced" && echo old1 > "$1/opt/replaced/old1" && '
    'echo old2 > "$1/opt/replaced/old2" && echo gone > "$1/opt/gone"'
)
TWO_RUN = (
    "rm /opt/gone && rm -rf /opt/replaced && mkdir /opt/replaced && echo new > /opt/replaced/new"
)
SIB_RUN = "mkdir -p /opt/sib && echo sib > /opt/sib/hello"
# dpkg's own purge, not an rm of /usr/bin/apt-get: the image is then what a distribution without
# apt looks like (dpkg's database agrees with the files), not a broken apt (apt is neither
# Essential nor Protected in bookworm, the --force flags only quiet what depends on it)
NOAPT_RUN = (
    "dpkg --purge --force-remove-essential --force-depends apt && ! test -e /usr/bin/apt-get"
)


@dataclass(frozen=True)
class Image:
    ref: str  # "127.0.0.1:PORT/test/base:1"
    digest: str  # of the manifest (an index's own digest for `armonly` and `multi`)
    layers: list[str]  # layer digests, bottom first (for an index: the host platform's, if any)
    platforms: dict[str, str] = field(default_factory=dict)  # an index's "linux/arm64": digest


@dataclass(frozen=True)
class Images:
    base: Image  # mmdebstrap minbase bookworm with /opt/replaced/{old1,old2} and /opt/gone
    two: Image  # base + a layer with a whiteout (/opt/gone) and an opaque dir (/opt/replaced)
    sib: Image  # base + another layer: shares the base layer's blob with `two`
    noapt: Image  # base with apt purged
    armonly: Image  # an index with only a linux/arm64 entry
    multi: Image  # an index with linux/<host arch> (= base) and linux/arm64 entries
    dotdot: Image  # one layer with a `../../escape` entry
    symlink_out: Image  # one layer: `evil -> symlink_target`, then `evil/pwned`
    symlink_target: Path  # /tmp/devbox-evil-<hex>, for the test to make and check


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def inspect(reg: Registry, name: str) -> Image:
    """The image `name` (`test/base:1`) as the registry has it, read with skopeo."""
    ref = reg.ref(name)
    raw = skopeo(reg, "inspect", "--raw", f"docker://{ref}").encode()
    doc = json.loads(raw)
    platforms = {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
        for m in doc.get("manifests", [])
    }
    if "manifests" in doc:
        host = f"linux/{arch()}"
        repo = ref.rsplit(":", 1)[0]
        layers = _layers(reg, f"{repo}@{platforms[host]}") if host in platforms else []
    else:
        layers = [layer["digest"] for layer in doc["layers"]]
    return Image(ref, digest_of(raw), layers, platforms)


def _layers(reg: Registry, ref: str) -> list[str]:
    doc = json.loads(skopeo(reg, "inspect", "--raw", f"docker://{ref}"))
    return [layer["digest"] for layer in doc["layers"]]


def retag(reg: Registry, src: str, dest: str) -> Image:
    """Point tag `dest` (`test/moving:1`) at the image `src` (`test/two:1`): a copy within the
    registry, as a publisher moving a tag does."""
    copy(reg, f"docker://{reg.ref(src)}", f"docker://{reg.ref(dest)}", "--all")
    return inspect(reg, dest)


class Podman:
    """Root podman with storage of its own under `tmp`, and a runroot of its own under /tmp
    (podman refuses a runroot path of over 50 characters); `close()` removes that."""

    def __init__(self, reg: Registry, tmp: Path) -> None:
        self.reg = reg
        self.runroot = Path(tempfile.mkdtemp(prefix="dbx-podman-", dir="/tmp"))
        self.argv = [
            "podman", "--root", str(tmp / "root"), "--runroot", str(self.runroot),
            "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--storage-driver", "overlay",
        ]  # fmt: skip
        self.auth = ["--creds", reg.creds, "--cert-dir", str(reg.cert_dir)]

    def __call__(self, *args: str) -> str:
        return run(*self.argv, *args)

    def close(self) -> None:
        shutil.rmtree(self.runroot, ignore_errors=True)

    def build(self, name: str, containerfile: str, ctx: Path, *flags: str) -> None:
        ctx.mkdir(parents=True, exist_ok=True)
        (ctx / "Containerfile").write_text(containerfile)
        self("build", "--quiet", "--pull=never", "--network", "host", "--ulimit",
             "nofile=1000:1000", "--ulimit", "nproc=1000:1000", *flags, "-t", f"localhost/{name}",
             str(ctx))  # fmt: skip

    def push(self, name: str) -> None:
        self("push", "--quiet", *self.auth, f"localhost/{name}", f"docker://{self.reg.ref(name)}")

    def index(self, name: str, entries: list[tuple[str, str]]) -> None:
        """Push an OCI index `name` of (arch, image name in the registry) entries, all linux."""
        self("manifest", "create", f"localhost/{name}")
        for a, image in entries:
            self("manifest", "add", *self.auth, "--arch", a, "--os", "linux", f"localhost/{name}",
                 f"docker://{self.reg.ref(image)}")  # fmt: skip
        self("manifest", "push", "--all", "--format", "oci", "--quiet", *self.auth,
             f"localhost/{name}", f"docker://{self.reg.ref(name)}")  # fmt: skip


def need_tools() -> None:
    for tool in ("mmdebstrap", "podman", "skopeo", "runc"):
        if not shutil.which(tool):
            raise RuntimeError(f"{tool} is missing: scripts/setup.sh installs it")


def base_tarball(cache: Path) -> Path:
    """mmdebstrap minbase bookworm with the base's test files, made once into `cache`."""
    tar = cache / "base.tar"
    if not tar.exists():
        cache.mkdir(parents=True, exist_ok=True)
        part = cache / "base.part.tar"
        run("mmdebstrap", "--variant=minbase", "--mode=root", "--quiet",
             f"--customize-hook={BASE_HOOK}", "bookworm", str(part),
             "http://deb.debian.org/debian")  # fmt: skip
        part.rename(tar)
    return tar


def push_base(podman: Podman, cache: Path) -> None:
    """Make `test/base:1` (the mmdebstrap tarball `podman import`ed: one layer) and push it."""
    tar = base_tarball(cache)
    podman("import", "--quiet", str(tar), "localhost/test/base:1")
    podman.push("test/base:1")


def build_images(reg: Registry, tmp: Path, cache: Path | None = None) -> Images:
    """Build and push every test image (45-100 s here: 15 s and mmdebstrap); `cache` keeps
    the mmdebstrap tarball (default: `tmp`)."""
    need_tools()
    podman = Podman(reg, tmp / "podman")
    try:
        return _build(reg, tmp, cache or tmp, podman)
    finally:
        podman.close()


def _build(reg: Registry, tmp: Path, cache: Path, podman: Podman) -> Images:
    push_base(podman, cache)
    podman.build("test/two:1", f"FROM localhost/test/base:1\nRUN {TWO_RUN}\n", tmp / "ctx-two")
    podman.build("test/sib:1", f"FROM localhost/test/base:1\nRUN {SIB_RUN}\n", tmp / "ctx-sib")
    podman.build("test/noapt:1", f"FROM localhost/test/base:1\nRUN {NOAPT_RUN}\n", tmp / "ctx-na")
    # a tiny real arm64 image (FROM scratch + COPY: nothing runs, so no emulator is needed)
    (tmp / "ctx-arm").mkdir(parents=True, exist_ok=True)
    (tmp / "ctx-arm" / "hello").write_text("arm64\n")
    podman.build("test/arm:1", "FROM scratch\nCOPY hello /hello\n", tmp / "ctx-arm",
                 "--arch", "arm64", "--os", "linux")  # fmt: skip
    for name in ("test/two:1", "test/sib:1", "test/noapt:1", "test/arm:1"):
        podman.push(name)
    podman.index("test/armonly:1", [("arm64", "test/arm:1")])
    podman.index("test/multi:1", [(arch(), "test/base:1"), ("arm64", "test/arm:1")])
    target = Path(f"/tmp/devbox-evil-{secrets.token_hex(4)}")
    for name, entries in (("dotdot", dotdot()), ("symlink-out", symlink_out(str(target)))):
        layout = tmp / f"layout-{name}"
        write_layout(layout, "1", entries)
        copy(reg, f"oci:{layout}:1", f"docker://{reg.ref(f'test/{name}:1')}")
    names = ("base", "two", "sib", "noapt", "armonly", "multi", "dotdot", "symlink-out")
    got = {n: inspect(reg, f"test/{n}:1") for n in names}
    images = Images(
        got["base"], got["two"], got["sib"], got["noapt"], got["armonly"], got["multi"],
        got["dotdot"], got["symlink-out"], symlink_target=target,
    )  # fmt: skip
    check(reg, images)
    podman("rmi", "--all", "--force")  # the registry has them; the storage can go with tmp
    return images


def check(reg: Registry, images: Images) -> None:
    """What the tests rely on, checked once where the images are made."""
    two, sib, base = images.two, images.sib, images.base
    # two's upper layer, as `tar -tzvf` lists it (podman 4.3 adds etc/hosts and run/ itself):
    #   drwxr-xr-x 0/0   0 ... opt/
    #   ---------- 0/0   0 ... opt/.wh.gone
    #   drwxr-xr-x 0/0   0 ... opt/replaced/
    #   -rwxr-xr-x 0/0   0 1970-01-01 00:00 opt/replaced/.wh..wh..opq
    #   -rw-r--r-- 0/0   4 ... opt/replaced/new
    names = [line.split()[-1] for line in upper_layer_listing(reg, two)]
    for want in ("opt/.wh.gone", "opt/replaced/.wh..wh..opq", "opt/replaced/new"):
        if want not in names:
            raise AssertionError(f"two's upper layer has {want}: {names}")
    if len(two.layers) != 2 or len(sib.layers) != 2:
        raise AssertionError(f"two and sib have two layers each: {two.layers} {sib.layers}")
    if two.layers[0] != sib.layers[0] or two.layers[0] != base.layers[0]:
        raise AssertionError(f"two, sib and base share the base layer's blob: {two} {sib} {base}")
    if two.layers[1] == sib.layers[1]:
        raise AssertionError("two's and sib's upper layers differ")
    if list(images.armonly.platforms) != ["linux/arm64"] or images.armonly.layers:
        raise AssertionError(f"armonly lists linux/arm64 only: {images.armonly}")
    if images.multi.platforms.get(f"linux/{arch()}") != base.digest:
        raise AssertionError(f"multi's host entry is base: {images.multi} {base}")


def upper_layer_listing(reg: Registry, image: Image) -> list[str]:
    """`tar -tzvf` of the image's top layer blob, from the registry's storage."""
    out = subprocess.run(["tar", "-tzvf", str(reg.blob_path(image.layers[-1]))],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return out.splitlines()
