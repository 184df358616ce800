"""Spec -> ordered layer recipes with content digests. Pure: reads no files but setup inputs.

digest = sha256(parent digest + canonical recipe + builder version). `[env]` is in no digest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DevboxError
from .spec import Spec

# Bump a kind's version when its builder changes what it puts in a layer.
BUILDER_VERSIONS = {"debian": 1, "apt": 1, "setup": 1}


@dataclass(frozen=True)
class LayerRecipe:
    kind: str  # "debian" | "apt" | "setup"
    recipe: dict[str, Any]  # canonical inputs (JSON-able)
    parent: str | None
    digest: str
    title: str  # what the build display says


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


def hash_inputs(project: Path, inputs: tuple[str, ...]) -> dict[str, str]:
    """Content hashes of setup inputs (files, or every file under a directory)."""
    out: dict[str, str] = {}
    for rel in inputs:
        p = project / rel
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            files = [p]
        else:
            raise DevboxError(
                f"[setup].inputs names {rel!r}, which does not exist in {project}",
                hint="create it, or remove it from [setup].inputs",
            )
        for f in files:
            out[f.relative_to(project).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
    return dict(sorted(out.items()))


def workdir_of(spec: Spec) -> str:
    return spec.shell.workdir or str(spec.project)


def plan(
    spec: Spec, input_hashes: dict[str, str] | None = None, *, idmap: str = "root"
) -> list[LayerRecipe]:
    """The layers of a box, bottom first. `idmap` names the uid map the layers are built under
    (host.Tier.key): layers built under one map are never entered under another."""
    base = spec.base
    if base.kind != "debian":
        raise DevboxError(
            f"base {base.kind}:{base.ref} is not supported yet (only debian:<suite> bases for now)",
            hint='use base = "debian:bookworm" (or bullseye, trixie, sid)',
        )
    if spec.interpreters:
        names = ", ".join(i.name for i in spec.interpreters)
        raise DevboxError(
            f"[interpreters] ({names}) is not supported yet",
            hint="install the distro's interpreter with [packages].apt for now, e.g. python3",
        )
    layers: list[LayerRecipe] = []
    rec: dict[str, Any] = {"suite": base.ref, "mirror": base.mirror, "variant": "minbase"}
    layers.append(_layer("debian", None, rec, f"base debian:{base.ref}", idmap))
    if spec.apt:
        rec = {"packages": sorted(spec.apt)}
        title = "apt " + " ".join(spec.apt)
        layers.append(_layer("apt", layers[-1].digest, rec, title, idmap))
    if spec.setup.run:
        if input_hashes is None:
            input_hashes = hash_inputs(spec.project, spec.setup.inputs)
        rec = {"run": list(spec.setup.run), "inputs": input_hashes, "workdir": workdir_of(spec)}
        title = f"setup ({len(spec.setup.run)} step(s))"
        layers.append(_layer("setup", layers[-1].digest, rec, title, idmap))
    return layers
