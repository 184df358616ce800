"""debian:<suite> bases, bootstrapped by mmdebstrap (minbase).

mmdebstrap runs in `--mode=root` as the root of a namespace of our own (tiers 2 and 3: our user
namespace), so the base is built under exactly the uid map the box is entered with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from devbox.build import ahead, steps
from devbox.build.builders.context import BuildContext, build_env
from devbox.build.progress import run_logged
from devbox.plan.recipe import LayerRecipe
from devbox.sandbox import argv as sandbox
from devbox.sandbox import host, seccomp


def build(ctx: BuildContext, layer: LayerRecipe) -> dict[str, Any]:
    archives, lists = ctx.apt_cache()
    target = ctx.build.rootfs
    target.rmdir()  # mmdebstrap wants to create it
    tier = ctx.tier
    fetch = _fetch(ctx, layer, archives)
    argv = steps.mmdebstrap_argv(
        host.tool("mmdebstrap"),
        layer.recipe["suite"],
        str(target),
        layer.recipe["mirror"],
        str(archives),
        str(ctx.out),
        single_uid=tier.level == 3,
        lists=str(lists),
        fetch=str(fetch.root) if fetch else None,
    )
    # its own mount (and, rootless, pid) namespace: whatever mmdebstrap mounts dies with it
    prefix = sandbox.unshare_argv(
        host.tool("unshare"), tier.userns, pid=True, setpriv=host.tool("setpriv")
    )
    # its temp files (a gpg home) go with the layer's temp dir, even when the build is killed
    env = {**build_env(), "TMPDIR": str(ctx.out)}
    # tier 3: mmdebstrap and all it starts run under the seccomp filter (bwrap installs it for
    # the other build steps)
    filtered = seccomp.exec_argv() if tier.seccomp else []
    with ahead.running(fetch):
        ctx.display.aside = (lambda: fetch.status) if fetch else None
        try:
            run_logged(
                [*filtered, *prefix, *argv], log=ctx.log, display=ctx.display, label=ctx.label,
                env=env,
            )  # fmt: skip
            if fetch and fetch.running():
                ctx.display.status(f"{ctx.label}  waiting for the packages fetched ahead")
        finally:
            ctx.display.aside = None
    if fetch is not None:
        _told(ctx, fetch)
        ctx.build.remove(fetch.root)
    return {}


def _fetch(ctx: BuildContext, layer: LayerRecipe, archives: Path) -> ahead.Fetch | None:
    """A fetch ahead of the bootstrap (build.ahead), for a mirror reached over the network,
    unless DEVBOX_FETCH_AHEAD=0 (a metered link, a proxy that refuses parallel connections)."""
    mirror = str(layer.recipe["mirror"])
    if os.environ.get("DEVBOX_FETCH_AHEAD") == "0":
        return None
    if not mirror.startswith(("http://", "https://")) or any(c.isspace() for c in mirror):
        return None
    return ahead.Fetch(
        root=ctx.build.tmp / "fetch", archives=archives, suite=layer.recipe["suite"],
        mirror=mirror, packages=ctx.ahead, tier=ctx.tier, log=ctx.log,
    )  # fmt: skip


def _told(ctx: BuildContext, fetch: ahead.Fetch) -> None:
    with open(ctx.log, "a") as log:
        mib = fetch.bytes / 2**20
        log.write(f"devbox: fetched {len(fetch.fetched)} packages ahead ({mib:.1f} MiB) in "
                  f"{fetch.took:.1f}s {fetch.error}\n")  # fmt: skip
    if fetch.error:
        ctx.display.info(
            f"{ctx.label}: fetching packages ahead: {fetch.error}; apt downloaded them itself"
        )
