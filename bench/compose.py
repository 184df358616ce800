"""The services bench's peer: the same two servers (Debian's postgresql and redis-server) as
podman containers, started by `podman-compose up -d` (Debian's podman-compose), as root.

The images are made here, from nothing but the Debian archive: a bookworm base bootstrapped with
mmdebstrap (minbase, as devbox's own base) and `podman import`ed, then `podman build` of each
server on it (`bench/services-project/Containerfile.*`). Each image is tagged with a digest of
what made it (the base tarball's bytes; the Containerfile and the files it copies), so a second
bench run finds them and builds nothing. podman keeps its images under the bench's cache dir;
its run root and tmp dir are short fixed paths under /run (podman refuses a long run root, and
its database remembers both). podman-compose passes its `--podman-args` after the subcommand, so
the global settings (storage, runc, cgroupfs, ulimits) go through CONTAINERS_CONF and
CONTAINERS_STORAGE_CONF instead, which every podman it starts reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.timing import Skip, run
from devbox.template import fill

FILES = Path(__file__).resolve().parent / "services-project"
RUN = Path("/run/devbox-bench-services")  # podman's run root and tmp dir (short, fixed)
PROJECT = "benchsvc"  # podman-compose's project name: containers benchsvc_db_1, benchsvc_cache_1
MIRROR = "http://deb.debian.org/debian"
PG_START = "/usr/local/bin/pg-start.sh"
BRIDGED_REDIS = ("redis-server", "--bind", "0.0.0.0", "--protected-mode", "no")
REDIS_ARGS = ("--dir", "/data", "--save", "60", "1")  # as the devbox project's cache service


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:16]


def _ulimits() -> list[str]:
    """The host's open-file limits (what devbox's services inherit), not podman's defaults,
    which ask for more than a small VM's hard limit allows; processes: 4096 (runc is refused
    the host's own nproc here)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = soft if soft != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY:
        soft = hard
    return [f"nofile={soft}:{hard}", "nproc=4096:4096"]


@dataclass(frozen=True)
class Peer:
    """Root podman with storage under `cache`; `env` makes every podman use it."""

    cache: Path
    env: dict[str, str]

    @classmethod
    def at(cls, cache: Path) -> Peer:
        for tool in ("podman", "podman-compose", "mmdebstrap", "runc"):
            if not shutil.which(tool):
                raise Skip(f"{tool} is missing: scripts/setup.sh installs it (as root)")
        cache.mkdir(parents=True, exist_ok=True)
        RUN.mkdir(mode=0o700, exist_ok=True)
        conf, storage = cache / "containers.conf", cache / "storage.conf"
        conf.write_text(
            "[containers]\n"
            f"default_ulimits = {json.dumps(_ulimits())}\n"
            "[engine]\n"
            'runtime = "runc"\ncgroup_manager = "cgroupfs"\n'
            f'tmp_dir = "{RUN / "libpod"}"\n'
        )
        storage.write_text(
            '[storage]\ndriver = "overlay"\n'
            f'graphroot = "{cache / "podman"}"\nrunroot = "{RUN / "storage"}"\n'
        )
        env = {**os.environ, "CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}
        return cls(cache, env)

    def podman(self, *args: str, timeout: float = 600) -> None:
        run(["podman", *args], env=self.env, timeout=timeout)

    def has_image(self, ref: str) -> bool:
        r = subprocess.run(["podman", "image", "exists", ref], env=self.env, capture_output=True)
        return r.returncode == 0

    def base(self) -> str:
        """The bookworm base image (mmdebstrap minbase, imported), made once."""
        tar = self.cache / "bookworm.tar"
        if not tar.exists():
            part = self.cache / "bookworm.part.tar"
            run(["mmdebstrap", "--variant=minbase", "--mode=root", "--quiet", "bookworm",
                 str(part), MIRROR], timeout=900)  # fmt: skip
            part.rename(tar)
        ref = f"localhost/bench-bookworm:{_file_digest(tar)}"
        if not self.has_image(ref):
            self.podman("import", "--quiet", str(tar), ref)
        return ref

    def image(self, name: str, base: str) -> str:
        """`localhost/bench-NAME:DIGEST` built from Containerfile.NAME on `base`, once."""
        text = fill((FILES / f"Containerfile.{name}").read_text(), {"BASE": base}, str)
        copied = [FILES / "services" / "db" / "pg-start.sh"] if name == "db" else []
        ref = f"localhost/bench-{name}:{_digest(text.encode(), *(p.read_bytes() for p in copied))}"
        if self.has_image(ref):
            return ref
        ctx = self.cache / f"ctx-{name}"
        shutil.rmtree(ctx, ignore_errors=True)
        ctx.mkdir(parents=True)
        (ctx / "Containerfile").write_text(text)
        for p in copied:
            shutil.copy2(p, ctx / p.name)
        limits = [f"--ulimit={u}" for u in _ulimits()]  # podman build ignores default_ulimits
        self.podman("build", "--quiet", "--pull=never", "--network=host", *limits, "-t", ref,
                    str(ctx), timeout=900)  # fmt: skip
        return ref

    def prune(self, keep: list[str]) -> None:
        """Remove the bench's images of earlier Containerfiles (other tags than `keep`)."""
        listed = subprocess.run(
            ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter",
             "reference=localhost/bench-*"], env=self.env, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        old = [ref for ref in listed if ref not in keep]
        if old:
            self.podman("rmi", "--force", *old)

    def compose_file(self, images: dict[str, str], ports: dict[str, int], data: Path) -> Path:
        """compose.yml (JSON, which YAML reads) for the two servers, their data in `data/NAME`
        (bind mounts), the devbox project's commands. On podman-compose's own network, a
        bridge, with the ports published on 127.0.0.1: Debian's podman-compose 1.0.3 gives every
        container `--net PROJECT_default --network-alias NAME`, which podman refuses beside
        `network_mode: host`. So the servers listen on 0.0.0.0 in their containers."""
        services: dict[str, dict[str, object]] = {
            "db": {
                "image": images["db"],
                "command": ["sh", PG_START],
                "environment": {
                    "PGPORT": str(ports["db"]),
                    "PGDATA": "/data",
                    "PGLISTEN": "0.0.0.0",
                },
            },
            "cache": {
                "image": images["cache"],
                "command": [*BRIDGED_REDIS, *REDIS_ARGS, "--port", str(ports["cache"])],
            },
        }
        for name, svc in services.items():
            (data / name).mkdir(parents=True, exist_ok=True)
            port = ports[name]
            svc.update({"ports": [f"127.0.0.1:{port}:{port}"], "volumes": [f"{data / name}:/data"]})
        path = self.cache / "compose.yml"
        path.write_text(json.dumps({"version": "3", "services": services}, indent=2) + "\n")
        return path

    def compose(self, path: Path, *args: str) -> None:
        run(["podman-compose", "-p", PROJECT, "-f", str(path), *args], cwd=path.parent,
            env=self.env)  # fmt: skip

    def pod_up(self, images: dict[str, str], ports: dict[str, int], data: Path) -> None:
        """The same servers in a podman pod on the host's network, as the devbox project runs
        them (127.0.0.1): `podman pod create`, then `podman run -d --pod` of each."""
        self.podman("pod", "create", f"--name={PROJECT}", "--network=host")
        db = [f"-e=PGPORT={ports['db']}", "-e=PGDATA=/data", f"-v={data / 'db'}:/data",
              images["db"], "sh", PG_START]  # fmt: skip
        cache = [f"-v={data / 'cache'}:/data", images["cache"], "redis-server", "--bind",
                 "127.0.0.1", *REDIS_ARGS, "--port", str(ports["cache"])]  # fmt: skip
        for name, argv in (("db", db), ("cache", cache)):
            self.podman("run", "-d", f"--pod={PROJECT}", f"--name={PROJECT}_{name}_pod", *argv)

    def pod_down(self) -> None:
        self.podman("pod", "rm", "--force", "--time=10", PROJECT)

    def remove_all(self) -> None:
        """Every pod and container of this storage, stopped and removed (all the bench's)."""
        for what in (["pod", "rm"], ["rm"]):
            subprocess.run(["podman", *what, "--all", "--force", "--time=10"], env=self.env,
                           capture_output=True, check=False)  # fmt: skip
