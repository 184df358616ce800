"""devbox.lock: what a build resolved, in a stable, human-diffable TOML form."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .spec import Spec
from .store import LayerMeta

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LOCK_NAME = "devbox.lock"
LOCK_VERSION = 1
HEADER = (
    "# devbox.lock: what `devbox build` resolved. Written by devbox; commit it, don't edit it.\n"
)


def lock_path(spec: Spec) -> Path:
    return spec.project / LOCK_NAME


def _q(s: str) -> str:
    """A TOML basic string (JSON's escapes, plus DEL, which TOML also forbids raw)."""
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _table(name: str, items: dict[str, Any]) -> list[str]:
    lines = [f"[{name}]"]
    for k, v in items.items():
        if isinstance(v, list):
            v = "[" + ", ".join(_q(x) for x in v) + "]"
        elif isinstance(v, str):
            v = _q(v)
        else:
            v = json.dumps(v)
        lines.append(f"{_q(k) if not k.replace('-', '').isalnum() else k} = {v}")
    return lines


def _packages(name: str, pkgs: dict[str, str]) -> list[str]:
    return [f"[{name}.packages]", *(f"{_q(k)} = {_q(v)}" for k, v in sorted(pkgs.items()))]


def render(spec: Spec, metas: Sequence[LayerMeta]) -> str:
    """The lock text. Each layer records the packages it added or changed."""
    arch = metas[0].arch if metas else "unknown"
    out = [HEADER.rstrip("\n"), f"lock-version = {LOCK_VERSION}", f"arch = {_q(arch)}", ""]
    previous: dict[str, str] = {}
    for m in metas:
        name = "base" if m.kind == "debian" else m.kind
        head: dict[str, Any] = {}
        if m.kind == "debian":
            head = {
                "source": f"debian:{m.recipe['suite']}",
                "suite": m.recipe["suite"],
                "mirror": m.recipe["mirror"],
            }
        elif m.kind == "apt":
            head = {"requested": list(m.recipe["packages"])}
        elif m.kind == "setup":
            head = {"run": list(m.recipe["run"])}
        delta = {k: v for k, v in m.packages.items() if previous.get(k) != v}
        removed = sorted(set(previous) - set(m.packages))
        if removed:
            head["removed"] = removed
        out += _table(name, head)
        if m.kind == "setup" and m.recipe["inputs"]:
            inputs = m.recipe["inputs"].items()
            out += ["", f"[{name}.inputs]", *(f"{_q(k)} = {_q('sha256:' + v)}" for k, v in inputs)]
        out.append("")
        if delta:
            out += [*_packages(name, delta), ""]
        previous = m.packages
    return "\n".join(out).rstrip("\n") + "\n"


def write(spec: Spec, metas: Sequence[LayerMeta]) -> Path:
    path = lock_path(spec)
    text = render(spec, metas)
    try:
        if path.read_text() == text:
            return path
    except OSError:
        pass
    tmp = path.with_name(f".{LOCK_NAME}.new")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def read(path: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
