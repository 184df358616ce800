"""What each Debian suite ships of the interpreters devbox can install from it (provider `apt`),
and the default provider of each interpreter: the spec refuses a python the suite lacks at its
line in devbox.toml, and the plan (plan/interpreters.py) builds its recipes from the same
tables."""

from __future__ import annotations

from devbox.spec.model import Base, Interpreter
from devbox.spec.tomlpos import KeyPath
from devbox.spec.validate import Ctx

DEFAULT_PROVIDER = {"python": "apt", "node": "npm"}  # python: the suite's; node: official builds

# python3.X per Debian suite; sid carries 3.13 and newer (what it has changes over time).
SUITE_PYTHON = {"bullseye": "3.9", "bookworm": "3.11", "trixie": "3.13"}
SID_MIN = (3, 13)

# nodejs per Debian suite (sid: whatever it has now).
SUITE_NODE = {"bullseye": "12", "bookworm": "18", "trixie": "20"}


def minor_of(version: str) -> str:
    return ".".join(version.split(".")[:2])


def suites_with(minor: str) -> list[str]:
    out = [s for s, v in SUITE_PYTHON.items() if v == minor]
    if tuple(int(x) for x in minor.split(".")) >= SID_MIN:
        out.append("sid")
    return out


def python_mismatch(suite: str, version: str) -> tuple[str, str] | None:
    """Why Debian `suite` cannot give python `version` and what to write instead, or None."""
    minor = minor_of(version)
    ok = SUITE_PYTHON.get(suite) == minor or (
        suite == "sid" and tuple(int(x) for x in minor.split(".")) >= SID_MIN
    )
    if ok:
        return None
    have = SUITE_PYTHON.get(suite, "3.13 and newer" if suite == "sid" else "another version")
    where = suites_with(minor)
    elsewhere = (
        f"python {minor} is in Debian {' and '.join(where)}"
        if where
        else f"no Debian suite devbox knows has python {minor}"
    )
    hint = (
        f'use python = "{have}" on {suite}'
        + (f', or base = "debian:{where[0]}"' if where else "")
        + f', or python = {{ version = "{version}", provider = "uv" }}'
        " (python-build-standalone: any version)"
    )
    return f"Debian {suite} has python {have}, not {version}; {elsewhere}", hint


def node_mismatch(suite: str, version: str) -> tuple[str, str] | None:
    """Why Debian `suite` cannot give node `version` and what to write instead, or None."""
    major = version.split(".")[0]
    have = SUITE_NODE.get(suite)
    if have is None or have == major:
        return None
    where = [s for s, v in SUITE_NODE.items() if v == major]
    message = f"Debian {suite} has node {have}, not {version}" + (
        f"; node {major} is in Debian {', '.join(where)}" if where else ""
    )
    hint = (
        f'use node = {{ version = "{version}", provider = "npm" }} (the official '
        "Node.js builds: any version)"
    )
    return message, hint


def refuse_missing(ctx: Ctx, key: KeyPath, interp: Interpreter, base: Base) -> None:
    """A python or node from the suite's own packages must be one the suite has."""
    provider = interp.provider or DEFAULT_PROVIDER[interp.name]
    if provider != "apt" or base.kind != "debian":
        return
    check = python_mismatch if interp.name == "python" else node_mismatch
    problem = check(base.ref, interp.version)
    if problem is not None:
        raise ctx.fail(key, problem[0], fix=problem[1])
