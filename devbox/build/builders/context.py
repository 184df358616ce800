"""What a builder gets, and the one way builders run a command over the lower layers."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devbox import nofollow
from devbox.build import steps
from devbox.build.progress import Display, run_logged
from devbox.errors import DevboxError
from devbox.sandbox import argv as sandbox
from devbox.sandbox import box, host, seccomp
from devbox.sandbox.host import Tier
from devbox.store.layers import LayerBuild
from devbox.store.paths import Store

PRIVATE_APT = "apt"  # a step's private apt caches, in the layer's temp dir (LayerBuild.tmp)


@dataclass
class BuildContext:
    store: Store
    build: LayerBuild
    lowers: list[str]  # digests of the layers below, top first
    display: Display
    log: Path
    label: str
    apt_cache_key: str  # per mirror and suite
    project: Path
    workdir: str
    tier: Tier = field(default_factory=lambda: Tier(1, 0, 0, "root"))
    pins: dict[str, Any] | None = None  # what devbox.lock says this layer resolved to
    fresh: bool = False  # resolve afresh (`lock --update`, `--no-cache`): update apt's lists
    # every layer below is made only of what the Debian archive holds (recipe.from_archive):
    # apt may run over them with the suite's shared caches
    lowers_from_archive: bool = True
    suite: str | None = None  # the Debian suite, for telling what apt did not find
    # an image base: what the base builder found (LayerMeta.image) and the image's layers
    image: dict[str, Any] | None = None
    image_lowers: list[str] | None = None
    base_image: dict[str, Any] | None = None  # the image base below this layer, if any
    ahead: tuple[str, ...] = ()  # a Debian base: what the layers above it install (build.ahead)

    def has_apt(self) -> bool:
        """Can apt install over the layers below (a Debian suite, or an image with apt-get)?"""
        return self.base_image is None or bool(self.base_image.get("apt"))

    def refuse_apt(self, what: str) -> None:
        """An image without apt-get: `what` (which asks for apt) cannot be built on it."""
        if not self.has_apt():
            assert self.base_image is not None
            raise DevboxError(
                f"{what} needs apt, and the base image {self.base_image.get('ref', '')} is "
                f"{self.base_image.get('os')}, which has no apt-get",
                hint="install packages with the image's own package manager in [setup], or use "
                "a Debian or Ubuntu image",
            )

    def apt_install_script(self, packages: Sequence[str]) -> str:
        """apt_script for `packages` as this build needs it: its tier, its pins, the cache."""
        pins = None if self.pins is None else dict(self.pins.get("packages", {}))
        return steps.apt_script(
            packages, sandbox_root=self.tier.level == 3, pins=pins, cached_lists=self.cached_lists()
        )

    def cached_lists(self) -> bool:
        """May apt use the suite's cached lists (left by the base's bootstrap) as they are?"""
        _, lists = self.apt_cache()
        return not self.fresh and any(lists.glob("*_Packages*"))

    def installed_packages(self) -> dict[str, str]:
        """name -> version of every package installed once the layer's script ran."""
        out: dict[str, str] = {}
        try:
            # out/ is the build step's to write: a symlink there is refused, not followed
            text = nofollow.read_beneath(self.out, "packages.tsv").decode(errors="replace")
        except OSError:
            return out
        for line in text.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[1]:
                out[parts[0]] = parts[1]
        return out

    @property
    def out(self) -> Path:
        return self.build.tmp / "out"

    def apt_cache(self) -> tuple[Path, Path]:
        root = self.store.apt_cache(self.apt_cache_key)
        archives, lists = root / "archives", root / "lists"
        for d in (archives / "partial", lists / "partial"):
            d.mkdir(parents=True, exist_ok=True)
        return archives, lists

    def step_caches(self, apt: bool) -> tuple[Path, Path]:
        """The archives and lists dirs a step over the lowers gets. The suite's shared caches
        go only to apt (`apt`) over layers that all come from the archive: apt alone writes
        them there. apt over any other layer gets a private copy of the lists, and every other
        step private empty dirs, thrown away after it (PRIVATE_APT, in the layer's temp dir)."""
        if apt and self.lowers_from_archive:
            return self.apt_cache()
        private = self.build.tmp / PRIVATE_APT
        archives, lists = private / "archives", private / "lists"
        for d in (archives / "partial", lists / "partial"):
            d.mkdir(parents=True)
        if apt:
            _copy_lists(self.apt_cache()[1], lists)
        return archives, lists

    def rel(self, p: Path) -> str:
        return str(p.relative_to(self.store.root))

    def run_over_lowers(
        self,
        script: str,
        *,
        apt: bool = False,
        binds: Sequence[sandbox.Bind] = (),
        cwd: str = "/",
        rmdirs: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Run `script` with /bin/sh as root in a sandbox whose root is the layers below with
        this layer as the writable upper. Apt caches (step_caches: `apt` says the step is apt
        installing from the archive) and the output dir are bind-mounted."""
        try:
            self._run(script, self.step_caches(apt), binds, cwd, rmdirs, env)
        finally:
            private = self.build.tmp / PRIVATE_APT
            if os.path.lexists(private):
                self.build.remove(private)

    def _run(
        self,
        script: str,
        caches: tuple[Path, Path],
        binds: Sequence[sandbox.Bind],
        cwd: str,
        rmdirs: Sequence[str],
        env: Mapping[str, str] | None,
    ) -> None:
        archives, lists = caches
        lowers = [self.rel(self.store.layer_rootfs(d)) for d in self.lowers]
        b = self.build
        opts = sandbox.overlay_options(
            lowers, self.rel(b.rootfs), self.rel(b.tmp / "work"), userxattr=self.tier.level > 1
        )
        merged = str(b.tmp / "merged")
        # steps that fetch over HTTPS (uv, pip, npm) trust what the host does: a copy of its CA
        # bundle (root in a user namespace could remount a bind of the host's file writable)
        bundle = None
        ca = box.host_ca_bytes(self.project, self.store.root)
        if ca is not None:
            bundle = str(b.tmp / "host-ca.pem")
            box.write_new(b.tmp / "host-ca.pem", ca)
        fds: list[int] = []
        if seccomp.supported():
            fds.append(seccomp.memfd(fake_ids=self.tier.seccomp))
        session = sandbox.Session(
            root=merged,
            argv=("/bin/sh", "-c", script),
            cwd=cwd,
            tmpfs=("/tmp", "/run"),
            binds=(
                sandbox.Bind(str(archives), steps.APT_ARCHIVES),
                sandbox.Bind(str(lists), steps.APT_LISTS),
                sandbox.Bind(str(self.out), steps.BUILD_OUT),
                *binds,
                *sandbox.host_ca_binds(bundle),
            ),
            caps=sandbox.root_caps(self.tier.level),
            seccomp_fd=fds[0] if fds else None,
        )
        bw = sandbox.bwrap_argv(host.tool("bwrap"), session)
        argv = steps.build_argv(
            host.tool("unshare"), self.tier.userns, str(self.store.root), opts, merged, bw, rmdirs,
            setpriv=host.tool("setpriv"),
        )  # fmt: skip
        try:
            run_logged(
                argv, log=self.log, display=self.display, label=self.label,
                env={**build_env(), **sandbox.host_ca_env(bundle), **(env or {})}, pass_fds=fds,
                suite=self.suite,
            )  # fmt: skip
        finally:
            for fd in fds:
                os.close(fd)
            if bundle is not None:
                os.unlink(bundle)


def _copy_lists(shared: Path, private: Path) -> None:
    """The suite's package lists (plain files at the top of `shared`, not its lock)."""
    with os.scandir(shared) as entries:
        for e in entries:
            if e.is_file(follow_symlinks=False) and e.name != "lock":
                shutil.copyfile(e.path, private / e.name, follow_symlinks=False)


def build_env() -> dict[str, str]:
    """The environment of build steps: fixed, so builds don't depend on the caller's env."""
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
    }
    for k in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env
