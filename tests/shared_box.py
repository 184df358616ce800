"""A box image for the sharing tests (devcontainer, kube): the mmdebstrap tarball of
tests/images.py with libxml2-utils, a user 1000, a WorkingDir and the labels a devbox image has,
built with podman and pushed to the test registry; and a podman set up the way the reference
devcontainer CLI and `podman kube play` find it: through CONTAINERS_CONF and
CONTAINERS_STORAGE_CONF (runc, cgroupfs, storage of its own), HOME with the registry's CA in
certs.d and its login in ~/.docker/config.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.images import base_tarball
from tests.registry import Registry

WORKDIR = "/srv/demo"
BOX = "sharedemo"
CONTAINERS_CONF = """\
[containers]
netns = "host"
default_ulimits = ["nofile=1000:1000", "nproc=1000:1000"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
helper_binaries_dir = ["/usr/bin", "/usr/libexec/podman"]
"""
STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{root}"
runroot = "{runroot}"
"""
CONTAINERFILE = """\
FROM localhost/share/base:1
RUN apt-get update -q && apt-get install -y -q --no-install-recommends libxml2-utils \\
    && rm -rf /var/lib/apt/lists/* && useradd -u 1000 -m dev && mkdir -p {workdir}
ENV LANG=C.UTF-8
USER 1000:1000
WORKDIR {workdir}
"""


@dataclass
class Podman:
    env: dict[str, str]  # os.environ + CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, HOME
    home: Path
    runroot: Path

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)  # fmt: skip
        if check and r.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: {r.returncode} {r.stderr[-2000:]}")
        return r

    def clean(self) -> None:
        """Every container and pod gone (images stay: the next test reuses them)."""
        self("pod", "rm", "--all", "--force", check=False)
        self("rm", "--all", "--force", check=False)

    def close(self) -> None:
        self.clean()
        self("system", "reset", "--force", check=False)
        shutil.rmtree(self.runroot, ignore_errors=True)


def podman_for(reg: Registry, tmp: Path) -> Podman:
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    reg.trust(home)
    reg.login(home)
    # podman refuses a runroot path of over 50 characters
    runroot = Path(tempfile.mkdtemp(prefix="dbx-share-", dir="/tmp"))
    (tmp / "containers.conf").write_text(CONTAINERS_CONF)
    (tmp / "storage.conf").write_text(STORAGE_CONF.format(root=tmp / "root", runroot=runroot))
    env = dict(
        os.environ, HOME=str(home), CONTAINERS_CONF=str(tmp / "containers.conf"),
        CONTAINERS_STORAGE_CONF=str(tmp / "storage.conf"),
    )  # fmt: skip
    env.pop("XDG_RUNTIME_DIR", None)
    return Podman(env, home, runroot)


def labels(workdir: str = WORKDIR) -> dict[str, str]:
    digest = "sha256:" + hashlib.sha256(b"").hexdigest()
    layer = {"kind": "rootfs", "title": "base", "portable": None, "pins": None,
             "packages": None, "recipe": None, "image_diff_id": None, "lowers": None,
             "image": None}  # fmt: skip
    return {
        "dev.devbox.version": "1", "dev.devbox.box": BOX, "dev.devbox.spec": digest,
        "dev.devbox.lock": digest, "dev.devbox.arch": "amd64",
        "dev.devbox.layers": json.dumps([layer]),
    }  # fmt: skip


def push_box(podman: Podman, reg: Registry, ctx: Path, cache: Path, name: str) -> str:
    """Build the box image and push it as `name` (`share/box:1`); its manifest digest."""
    podman("import", "--quiet", str(base_tarball(cache)), "localhost/share/base:1")
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Containerfile").write_text(CONTAINERFILE.format(workdir=WORKDIR))
    flags = [a for k, v in labels().items() for a in ("--label", f"{k}={v}")]
    podman("build", "--quiet", "--pull=never", "--network", "host", *flags,
           "-t", f"localhost/{name}", str(ctx))  # fmt: skip
    digest_file = ctx / "digest"
    podman("push", "--quiet", "--digestfile", str(digest_file), f"localhost/{name}",
           f"docker://{reg.ref(name)}")  # fmt: skip
    return digest_file.read_text().strip()
