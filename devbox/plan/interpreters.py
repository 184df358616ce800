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

Recipe = Callable[[Spec, Interpreter], "tuple[dict[str, Any], str]"]


def default_provider(name: str) -> str:
    """python: the base suite's own (apt); node: the official builds (npm), any version."""
    return {"python": "apt", "node": "npm"}[name]


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


# python, provider "apt": the base suite's own python3.X.
# python3.X per Debian suite; sid carries 3.13 and newer (what it has changes over time).
SUITE_PYTHON = {"bullseye": "3.9", "bookworm": "3.11", "trixie": "3.13"}
SID_MIN = (3, 13)


def minor_of(version: str) -> str:
    return ".".join(version.split(".")[:2])


def suites_with(minor: str) -> list[str]:
    out = [s for s, v in SUITE_PYTHON.items() if v == minor]
    if tuple(int(x) for x in minor.split(".")) >= SID_MIN:
        out.append("sid")
    return out


def python_apt(spec: Spec, interp: Interpreter) -> tuple[dict[str, Any], str]:
    suite = spec.base.ref
    minor = minor_of(interp.version)
    ok = SUITE_PYTHON.get(suite) == minor or (
        suite == "sid" and tuple(int(x) for x in minor.split(".")) >= SID_MIN
    )
    if not ok:
        have = SUITE_PYTHON.get(suite, "3.13 and newer" if suite == "sid" else "another version")
        where = suites_with(minor)
        elsewhere = (
            f"python {minor} is in Debian {' and '.join(where)}"
            if where
            else f"no Debian suite devbox knows has python {minor}"
        )
        raise DevboxError(
            f"{spec.path}: [interpreters].python: Debian {suite} has python {have}, "
            f"not {interp.version}; {elsewhere}",
            hint=(
                f'use python = "{have}" on {suite}'
                + (f', or base = "debian:{where[0]}"' if where else "")
                + f', or python = {{ version = "{interp.version}", provider = "uv" }}'
                " (python-build-standalone: any version)"
            ),
        )
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
SUITE_NODE = {"bullseye": "12", "bookworm": "18", "trixie": "20"}  # sid: whatever it has now


def node_apt(spec: Spec, interp: Interpreter) -> tuple[dict[str, Any], str]:
    suite = spec.base.ref
    major = interp.version.split(".")[0]
    have = SUITE_NODE.get(suite)
    if have is not None and have != major:
        where = [s for s, v in SUITE_NODE.items() if v == major]
        raise DevboxError(
            f"{spec.path}: [interpreters].node: Debian {suite} has node {have}, not "
            f"{interp.version}"
            + (f"; node {major} is in Debian {', '.join(where)}" if where else ""),
            hint=f'use node = {{ version = "{interp.version}", provider = "npm" }} (the official '
            "Node.js builds: any version)",
        )
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
