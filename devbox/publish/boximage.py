"""A pushed box as other tools start it (devcontainer.json, a Kubernetes Pod): which image, and
what its config says (read with skopeo), checked before anything is written from it.

The image is input from a registry: its WorkingDir, User, Env and labels are validated here, so
a value that would change what a devcontainer tool mounts (a `,` in a mount string) or expands
(`${localEnv:...}`, the host's environment) is refused, not written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.errors import DevboxError, printable
from devbox.oci import skopeo
from devbox.spec.imageref import DIGEST, parse_reference
from devbox.spec.model import Spec
from devbox.store.paths import Store

PUSHED = "pushed.json"  # {"ref", "digest", "time"}, written by `devbox push`
# a path the box is entered at: absolute, no mount-option separators, no variables, no `..`
_WORKDIR = re.compile(r"^/[A-Za-z0-9._+@%~ /-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$")
_BOX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class BoxImage:
    ref: str  # what the files name: REPO@sha256:... for the last pushed image
    box: str  # the box's name (the image's dev.devbox.box label, else the spec's)
    workdir: str  # the image's WorkingDir: where the working tree is mounted
    user: str  # the image's User ("" = root), as the config has it
    env: tuple[tuple[str, str], ...]  # the image's Env
    command: tuple[str, ...]  # the image's Entrypoint + Cmd
    labels: tuple[tuple[str, str], ...]  # the image's dev.devbox.* labels


def pushed_ref(st: Store, spec: Spec) -> str:
    """The project's last pushed image by digest (a tag can move; the files name what was
    pushed)."""
    path = st.project_dir(spec.project) / PUSHED
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise DevboxError(
            f"{spec.name} has not been pushed from this machine (no image to name)",
            hint="`devbox push REF` first, or name an image with --image REF",
        ) from None
    except (OSError, ValueError) as e:
        raise DevboxError(f"{path} is not readable JSON: {e}") from None
    ref, digest = (doc.get(k) if isinstance(doc, dict) else None for k in ("ref", "digest"))
    if not isinstance(ref, str) or not isinstance(digest, str) or not DIGEST.match(digest):
        raise DevboxError(f"{path} names no pushed image (ref and digest)",
                          hint="`devbox push REF` writes it again")  # fmt: skip
    return parse_reference(ref).by_digest(digest)


def read(ref: str, spec: Spec, log: Path) -> BoxImage:
    """The image `ref`'s config (skopeo inspect --config), validated."""
    parse_reference(ref)
    return parse(ref, skopeo.inspect_config(ref, log), spec)


def parse(ref: str, raw: bytes, spec: Spec) -> BoxImage:
    """An image config (the registry's bytes) as far as devbox writes it into other tools'
    files, or a DevboxError naming the value it refuses."""
    try:
        doc = json.loads(raw)
    except ValueError:
        raise DevboxError(f"{ref}: the registry's image config is not JSON") from None
    conf = doc.get("config") if isinstance(doc, dict) else None
    conf = conf if isinstance(conf, dict) else {}
    labels = _strings(conf.get("Labels") or {}, ref, "Labels")
    box = labels.get("dev.devbox.box", spec.name)
    if not _BOX.match(box):
        raise _bad(ref, "label dev.devbox.box", box)
    workdir = conf.get("WorkingDir") or f"/workspaces/{_safe_dir(spec.project.name)}"
    if not isinstance(workdir, str) or not _WORKDIR.match(workdir) or _dotdot(workdir):
        raise _bad(ref, "WorkingDir", str(workdir))
    user = conf.get("User") or ""
    if not isinstance(user, str) or (user and not _USER.match(user)):
        raise _bad(ref, "User", str(user))
    env: list[tuple[str, str]] = []
    for item in _list(conf.get("Env"), ref, "Env"):
        name, eq, value = item.partition("=")
        if not eq or not _ENV_NAME.match(name) or "${" in value:
            raise _bad(ref, "Env entry", item)
        env.append((name, value))
    command = [*_list(conf.get("Entrypoint"), ref, "Entrypoint"),
               *_list(conf.get("Cmd"), ref, "Cmd")]  # fmt: skip
    for key, value in labels.items():
        if key.startswith("dev.devbox.") and "${" in value:
            raise _bad(ref, f"label {key}", value)
    ours = tuple(sorted((k, v) for k, v in labels.items() if k.startswith("dev.devbox.")))
    return BoxImage(ref, box, workdir, user, tuple(env), tuple(command), ours)


def extra_env(img: BoxImage) -> dict[str, str]:
    """What `devbox shell` sets that the image cannot know (it is the box's, not the image's),
    unless the image's Env has it."""
    have = {k for k, _ in img.env}
    extra = {"DEVBOX_BOX": img.box, "DEVBOX_PROJECT": img.workdir, "LANG": "C.UTF-8"}
    return {k: v for k, v in extra.items() if k not in have}


def uid_gid(user: str) -> tuple[int | None, int | None, bool]:
    """The image's User as numbers where it is numbers: (uid, gid, named). "" is root."""
    name, _, group = user.partition(":")
    if not name or name == "root":
        return 0, (int(group) if group.isdigit() else None), False
    uid = int(name) if name.isdigit() else None
    gid = int(group) if group.isdigit() else None
    return uid, gid, uid is None


def _safe_dir(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", name) or "project"


def _dotdot(path: str) -> bool:
    return any(p in ("..", ".") for p in path.split("/")[1:] if p)


def _bad(ref: str, what: str, value: str) -> DevboxError:
    return DevboxError(
        f"{ref}: the image's {what} {printable(value[:200])!r} is not one devbox writes into a "
        "file other tools read",
        hint="an image pushed by `devbox push` has plain values there; check where it came from",
    )


def _strings(value: Any, ref: str, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _bad(ref, what, str(value))
    return dict(value)


def _list(value: Any, ref: str, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(ref, what, str(value))
    return list(value)
