"""Spec -> ordered layer recipes with content digests. Pure: reads no files but setup inputs.

A recipe's `digest` names the *request* (parent request + canonical recipe + builder version +
uid map). What a layer resolved to (exact package versions, interpreter builds) is its *pins*;
the store keys a built layer by `layer_key(request, real parent, pins)`, so one request built at
two times (or from two locks) gives two layers, and a layer is only ever stacked on the exact
layer it was built over. `[env]` is in no digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.spec.model import Spec

# Bump a kind's version when its builder changes what it puts in a layer.
BUILDER_VERSIONS = {"debian": 1, "oci": 1, "rootfs": 1, "apt": 1, "python": 1, "node": 1,
                    "setup": 1}  # fmt: skip
BASES = frozenset({"debian", "oci", "rootfs"})
# Layers whose resolution devbox.lock records (and `build --locked` reproduces).
LOCKABLE = frozenset({"debian", "oci", "rootfs", "apt", "python", "node"})
INTERPRETER_ORDER = ("python", "node")  # the last one changes most often: rebuilds only itself
# Layers whose every file comes from the Debian archive (through apt, run by devbox's own
# scripts): apt runs over them with the suite's shared caches. Any other layer (a [setup] step,
# an interpreter downloaded from elsewhere) may hold anything, and a build over it must not
# reach what another project's build trusts.
FROM_ARCHIVE = frozenset({("debian", ""), ("apt", ""), ("python", "apt"), ("node", "apt")})

Pins = dict[str, Any]


@dataclass(frozen=True)
class LayerRecipe:
    kind: str  # "debian" | "oci" | "rootfs" | "apt" | "python" | "node" | "setup"
    recipe: dict[str, Any]  # canonical inputs (JSON-able)
    parent: str | None
    digest: str  # of the request (see the module docstring)
    title: str  # what the build display says

    @property
    def lock_section(self) -> str:
        """The table of devbox.lock that records this layer."""
        if self.kind in BASES:
            return "base"
        if self.kind in ("python", "node"):
            return f"interpreters.{self.kind}"
        return self.kind

    @property
    def lockable(self) -> bool:
        return self.kind in LOCKABLE


def from_archive(kind: str, recipe: dict[str, Any]) -> bool:
    """Is a layer of this kind and recipe made only of what the Debian archive holds?"""
    provider = str(recipe.get("provider", "")) if kind in INTERPRETER_ORDER else ""
    return (kind, provider) in FROM_ARCHIVE


def lock_request(layer: LayerRecipe) -> dict[str, Any]:
    """What devbox.lock records of a layer's request; a lock's pins apply to a layer only when
    its recorded request equals this."""
    r = layer.recipe
    if layer.kind == "debian":
        return {"source": f"debian:{r['suite']}", "suite": r["suite"], "mirror": r["mirror"]}
    if layer.kind == "oci":
        return {"source": f"oci:{r['ref']}"}
    if layer.kind == "rootfs":
        return {"source": f"rootfs:{r['path']}", "sha256": r["sha256"]}
    if layer.kind == "apt":
        return {"requested": list(r["packages"])}
    if layer.kind in ("python", "node"):
        req = {"provider": r["provider"], "requested": r["version"]}
        return {**req, "arch": r["arch"]} if "arch" in r else req
    return {"run": list(r["run"])}


def layer_key(request: str, parent: str | None, pins: Pins | None) -> str:
    """The store key of a layer: its request, the exact layer below, and what it resolved to
    (None: whatever the archive gives now, for an unlocked build; for [setup], always)."""
    doc = {"request": request, "parent": parent, "pins": pins}
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def _digest(kind: str, parent: str | None, recipe: dict[str, Any], idmap: str) -> str:
    doc = {
        "kind": kind,
        "builder": BUILDER_VERSIONS[kind],
        "parent": parent,
        "recipe": recipe,
        "idmap": idmap,
    }
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def _layer(
    kind: str, parent: str | None, recipe: dict[str, Any], title: str, idmap: str
) -> LayerRecipe:
    return LayerRecipe(kind, recipe, parent, _digest(kind, parent, recipe, idmap), title)


def _sha_fd(fd: int) -> str:
    h = hashlib.sha256()
    while chunk := os.read(fd, 1 << 16):
        h.update(chunk)
    return h.hexdigest()


def input_digests(project: Path, rel: str) -> dict[str, str] | None:
    """Content hashes of one setup input (a file, or every file and symlink under a directory),
    by project-relative path; None if it does not exist. The working tree is the box's to
    write: no symlink in it is followed (one hashes as its target string, like git), a symlinked
    directory on the way is refused, FIFOs and other special files under a directory are
    skipped."""
    *head, name = nofollow.parts(rel) or ["."]
    try:
        dirfd = nofollow.open_dir(project, "/".join(head))
    except FileNotFoundError:
        return None
    out: dict[str, str] = {}
    base = "/".join([*head, name]) if name != "." else "/".join(head)
    try:
        try:
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(st.st_mode):
            sub = nofollow.open_dir(dirfd, name)
            try:
                for r, est, fd, n in nofollow.walk(sub):
                    out.update(_digest_one(f"{base}/{r}" if base else r, est, fd, n, False))
            finally:
                os.close(sub)
        else:
            out.update(_digest_one(base, st, dirfd, name, True))
    finally:
        os.close(dirfd)
    return out


def _digest_one(rel: str, st: os.stat_result, fd: int, name: str, named: bool) -> dict[str, str]:
    if stat.S_ISLNK(st.st_mode):
        target = os.fsencode(os.readlink(name, dir_fd=fd))
        return {rel: hashlib.sha256(b"symlink:" + target).hexdigest()}
    if stat.S_ISREG(st.st_mode):
        ffd = nofollow.open_beneath(fd, name)
        try:
            return {rel: _sha_fd(ffd)}
        finally:
            os.close(ffd)
    if named:  # a FIFO or device named by the spec: refused, never read
        raise nofollow.refused(rel, "a special file", "a file or directory")
    return {}


def hash_inputs(project: Path, inputs: tuple[str, ...]) -> dict[str, str]:
    """Content hashes of setup inputs (files, or every file under a directory), never
    following a symlink (input_digests)."""
    out: dict[str, str] = {}
    for rel in inputs:
        got = input_digests(project, rel)
        if got is None:
            raise DevboxError(
                f"[setup].inputs names {rel!r}, which does not exist in {project}",
                hint="create it, or remove it from [setup].inputs",
            )
        out.update(got)
    return dict(sorted(out.items()))


def workdir_of(spec: Spec, image: dict[str, Any] | None = None) -> str:
    """Where the working tree is in the box: [shell].workdir, else an image base's WorkingDir
    (unless that is /), else the same path as on the host."""
    from_image = str((image or {}).get("workdir") or "")
    if not from_image.startswith("/") or from_image.rstrip("/") == "":
        from_image = ""
    return spec.shell.workdir or from_image or str(spec.project)


def plan(
    spec: Spec, input_hashes: dict[str, str] | None = None, *, idmap: str = "root"
) -> list[LayerRecipe]:
    """The layers of a box, bottom first. `idmap` names the uid map the layers are built under
    (host.Tier.key): layers built under one map are never entered under another."""
    base = spec.base
    layers: list[LayerRecipe] = []
    rec: dict[str, Any]
    if base.kind == "oci":
        rec = {"ref": base.ref}
    elif base.kind == "rootfs":
        got = input_digests(spec.project, base.ref)
        if got is None or len(got) != 1:
            raise DevboxError(
                f"{spec.path}: [box].base names the tarball {base.ref}, which "
                + ("does not exist" if got is None else "is a directory"),
                hint="put the rootfs tarball (.tar, .tar.gz, .tar.zst) there, or change base",
            )
        rec = {"path": base.ref, "sha256": next(iter(got.values()))}
    else:
        rec = {"suite": base.ref, "mirror": base.mirror, "variant": "minbase"}
    layers.append(_layer(base.kind, None, rec, f"base {base.kind}:{base.ref}", idmap))
    if spec.apt:
        rec = {"packages": sorted(spec.apt)}
        title = "apt " + " ".join(spec.apt)
        layers.append(_layer("apt", layers[-1].digest, rec, title, idmap))
    from devbox.plan.interpreters import interpreter_recipe

    by_name = {i.name: i for i in spec.interpreters}
    for name in INTERPRETER_ORDER:
        if name in by_name:
            rec, title = interpreter_recipe(spec, by_name[name])
            layers.append(_layer(name, layers[-1].digest, rec, title, idmap))
    if spec.setup.run:
        if input_hashes is None:
            input_hashes = hash_inputs(spec.project, spec.setup.inputs)
        rec = {"run": list(spec.setup.run), "inputs": input_hashes, "workdir": workdir_of(spec)}
        title = f"setup ({len(spec.setup.run)} step(s))"
        layers.append(_layer("setup", layers[-1].digest, rec, title, idmap))
    return layers
