"""debian:<suite> bases, bootstrapped by mmdebstrap (minbase).

mmdebstrap runs in `--mode=root` as the root of a namespace of our own (tiers 2 and 3: our user
namespace), so the base is built under exactly the uid map the box is entered with.
"""

from __future__ import annotations

from typing import Any

from devbox.build import steps
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
    argv = steps.mmdebstrap_argv(
        host.tool("mmdebstrap"),
        layer.recipe["suite"],
        str(target),
        layer.recipe["mirror"],
        str(archives),
        str(ctx.out),
        single_uid=tier.level == 3,
        lists=str(lists),
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
    run_logged(
        [*filtered, *prefix, *argv], log=ctx.log, display=ctx.display, label=ctx.label, env=env
    )
    return {}
