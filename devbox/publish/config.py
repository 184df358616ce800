"""The image config of an exported box: its environment, workdir, shell, labels and history.

The image runs as root, with HOME=/root: a box has no user of its own (a session is the invoking
user, who does not exist in the image), and root is who a container runtime runs an image as
when it names no user. `Env` is the box's environment as `devbox run -- env` has it for that
identity, less what belongs to a session on this host (TERM and the variables passed through
from the host, the CA bundle and git settings devbox adds at entry, `[env] files`). `created` is
fixed (SOURCE_DATE_EPOCH, else 0), so exporting twice gives the same config and manifest.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.oci import manifest as mf
from devbox.oci.layers import KIND as IMAGE_LAYER
from devbox.plan import lockfile
from devbox.plan.portable import chain, portable_plan
from devbox.plan.recipe import workdir_of
from devbox.publish.packed import epoch
from devbox.sandbox import boxenv, shellrc
from devbox.spec.model import Spec
from devbox.store.layers import LayerMeta

USER, HOME = "root", "/root"
LABEL_VERSION = "1"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def created() -> str:
    when = datetime.datetime.fromtimestamp(epoch() or 0, datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def deb_arch() -> str:
    arch = mf.host_platform()[1]
    return mf.DEB_ARCH.get(arch, arch)


def shell_of(spec: Spec, roots: Sequence[Path]) -> str:
    """The box's shell as a path in the image ([shell].program, else bash, else sh)."""
    program = shellrc.choose_program(spec.shell.program, "bash", roots)
    return shellrc.box_has(roots, program) or program


def environment(spec: Spec, image: dict[str, Any] | None, shell: str) -> list[str]:
    raw = (image or {}).get("env")
    image_env = [e for e in raw if isinstance(e, str)] if isinstance(raw, list) else []
    env = boxenv.box_env(spec, {}, user=USER, home=HOME, shell=shell,
                         workdir=workdir_of(spec, image), image_env=image_env)  # fmt: skip
    env.pop("TERM", None)  # the terminal's, set by whoever runs the image
    return [f"{k}={v}" for k, v in env.items()]


def portable_keys(spec: Spec, stack: Sequence[LayerMeta]) -> dict[str, str]:
    """Store key -> portable key, for the box's own layers (not an image's)."""
    layers = portable_plan(spec)
    if len(layers) != len(stack):
        return {}
    keys = chain(layers, [m.pins for m in stack], deb_arch())
    return {m.digest: k for m, k in zip(stack, keys)}


def records(
    spec: Spec, stack: Sequence[LayerMeta], expanded: Sequence[LayerMeta], changes: bool
) -> list[dict[str, Any]]:  # fmt: skip
    """One record per image layer (the expanded stack, bottom first), then `changes`."""
    portable = portable_keys(spec, stack)
    index = {m.digest: i for i, m in enumerate(expanded)}
    out: list[dict[str, Any]] = []
    for m in expanded:
        image_layer = m.kind == IMAGE_LAYER
        out.append({
            "kind": m.kind, "title": m.title,
            "portable": None if image_layer else portable.get(m.digest),
            "pins": m.pins, "packages": m.packages, "recipe": m.recipe,
            "image_diff_id": m.recipe.get("diff_id") if image_layer else None,
            "lowers": [index[d] for d in m.lowers or () if d in index] if m.kind == "oci"
            else None,
            "image": m.image,
        })  # fmt: skip
    if changes:
        out.append({"kind": "changes"})
    return out


def image_config(
    spec: Spec,
    spec_bytes: bytes,
    stack: Sequence[LayerMeta],
    expanded: Sequence[LayerMeta],
    roots: Sequence[Path],
    changes: bool = False,
) -> dict[str, Any]:
    """The config of the box's image. `stack`: the box's layers, `expanded`: with an image
    base's layers below it (one image layer each), bottom first; `roots`: their dirs, top
    first (where the shell is looked up)."""
    image = stack[0].image if stack and spec.base.kind != "debian" else None
    shell = shell_of(spec, roots)
    try:  # the working tree is the box's to write: no link followed
        lock = sha(nofollow.read_file(lockfile.lock_path(spec)))
    except (OSError, DevboxError):
        lock = ""
    labels = {
        "dev.devbox.version": LABEL_VERSION,
        "dev.devbox.box": spec.name,
        "dev.devbox.spec": sha(spec_bytes),
        "dev.devbox.lock": lock,
        "dev.devbox.arch": deb_arch(),
        "dev.devbox.layers": json.dumps(records(spec, stack, expanded, changes),
                                        sort_keys=True, separators=(",", ":")),
    }  # fmt: skip
    when = created()
    history = [{"created": when, "created_by": m.title} for m in expanded]
    if changes:
        history.append({"created": when, "created_by": "the box's writable layer"})
    return {
        "created": when,
        "config": {
            "Env": environment(spec, image, shell),
            "WorkingDir": workdir_of(spec, image),
            "Cmd": [shell],
            "User": USER,
            "Labels": labels,
        },
        "history": history,
    }
