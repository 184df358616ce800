"""The recipe half of each [interpreters] provider: pure, on the plan's side of the flow.

`python = "3.11"` becomes a layer recipe here; an impossible ask (a python the suite lacks) is
refused before anything is built. The build half of each provider (devbox.build.interpreters)
installs the layer; this module imports nothing from it, so planning never loads a builder.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any

from devbox.errors import DevboxError
from devbox.spec.model import Interpreter, Spec
from devbox.spec.suites import (
    DEFAULT_PROVIDER,
    SUITE_NODE,
    SUITE_PYTHON,
    minor_of,
    node_mismatch,
    python_mismatch,
)

__all__ = ["SUITE_NODE", "SUITE_PYTHON", "minor_of"]  # used by the builders and `devbox init`

Recipe = Callable[[Spec, Interpreter], "tuple[dict[str, Any], str]"]


def default_provider(name: str) -> str:
    """python: the base suite's own (apt); node: the official builds (npm), any version."""
    return DEFAULT_PROVIDER[name]


def upstream_version(debian_version: str) -> str:
    """'3.11.2-6+deb12u6' -> '3.11.2'; '18.19.0+dfsg-6~deb12u2' -> '18.19.0'."""
    v = debian_version.split(":", 1)[-1].rsplit("-", 1)[0]
    for sep in ("+", "~"):
        v = v.split(sep, 1)[0]
    return v


def matches(requested: str, exact: str) -> bool:
    """Does an exact version satisfy a request of the form X, X.Y or X.Y.Z?"""
    want = requested.split(".")
    return exact.split(".")[: len(want)] == want


# python, provider "apt": the base suite's own python3.X (the spec refuses one it lacks, at its
# line; checked again here for a Spec made otherwise).
def python_apt(spec: Spec, interp: Interpreter) -> tuple[dict[str, Any], str]:
    suite = spec.base.ref
    minor = minor_of(interp.version)
    problem = python_mismatch(suite, interp.version) if spec.base.kind == "debian" else None
    if problem is not None:
        raise DevboxError(f"{spec.path}: interpreters.python: {problem[0]}", hint=problem[1])
    packages = [f"python{minor}", f"python{minor}-dev", f"python{minor}-venv", "python3-pip"]
    return {"packages": [*packages, *COMPILER], "suite": suite}, f"python {interp.version} (apt)"


# What every interpreter brings from the suite to build native extensions (pip's C extensions,
# node-gyp's addons): a C and C++ compiler, libc's headers and make. build-essential less
# dpkg-dev, Debian's packaging tools (and perl), which no extension build runs.
COMPILER = ["gcc", "g++", "libc6-dev", "make"]


# python, provider "uv": python-build-standalone, any version (its own headers, venv and pip).
def python_uv(spec: Spec, interp: Interpreter) -> tuple[dict[str, Any], str]:
    return {"packages": list(COMPILER), "suite": spec.base.ref}, f"python {interp.version} (uv)"


# node, provider "apt": the suite's own nodejs and npm.
def node_apt(spec: Spec, interp: Interpreter) -> tuple[dict[str, Any], str]:
    suite = spec.base.ref
    problem = node_mismatch(suite, interp.version) if spec.base.kind == "debian" else None
    if problem is not None:
        raise DevboxError(f"{spec.path}: interpreters.node: {problem[0]}", hint=problem[1])
    # node-gyp (npm's, for native addons): node's headers, a compiler, and python3 for gyp
    packages = ["nodejs", "npm", "libnode-dev", *COMPILER, "python3"]
    return {"packages": packages, "suite": suite}, f"node {interp.version} (apt)"


# node, provider "npm": the official Node.js builds, any version.
ARCHES = {"x86_64": "x64", "aarch64": "arm64", "armv7l": "armv7l", "ppc64le": "ppc64le",
          "s390x": "s390x"}  # fmt: skip


def node_arch() -> str:
    machine = platform.machine()
    if machine not in ARCHES:
        raise DevboxError(f"no official Node.js build for this machine ({machine})")
    return ARCHES[machine]


def node_npm(spec: Spec, interp: Interpreter) -> tuple[dict[str, Any], str]:
    # node-gyp's needs besides the headers the official build ships: a compiler, python3
    packages = [*COMPILER, "python3"]
    return (
        {"arch": node_arch(), "packages": packages, "suite": spec.base.ref},
        f"node {interp.version} (npm registry)",
    )


RECIPES: dict[tuple[str, str], Recipe] = {
    ("python", "apt"): python_apt,
    ("python", "uv"): python_uv,
    ("node", "npm"): node_npm,
    ("node", "apt"): node_apt,
}


def interpreter_recipe(spec: Spec, interp: Interpreter) -> tuple[dict[str, Any], str]:
    provider = interp.provider or default_provider(interp.name)
    recipe = RECIPES.get((interp.name, provider))
    if recipe is None:  # the spec validator allows only known providers
        raise DevboxError(f"no provider {provider!r} for {interp.name}")
    fields, title = recipe(spec, interp)
    return {"provider": provider, "version": interp.version, **fields}, title
