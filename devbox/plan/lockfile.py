"""devbox.lock: what a build resolved, in a stable, human-diffable TOML form.

One table per layer: what was asked for (the request) and what it resolved to (the pins: exact
package versions; an interpreter's exact version, download URL and hash). A build uses a
layer's pins when the lock's request for that layer equals the spec's, and every layer below
used its pins too; `build --locked` insists on it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.plan.recipe import LayerRecipe, Pins, lock_request
from devbox.spec.model import Spec
from devbox.store.layers import LayerMeta

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LOCK_NAME = "devbox.lock"
LOCK_VERSION = 2
HEADER = (
    "# devbox.lock: what `devbox build` resolved. Written by devbox; commit it, don't edit it.\n"
)
INFO_KEYS = frozenset({"packages", "removed", "inputs"})  # tables/keys that are not pins


def lock_path(spec: Spec) -> Path:
    return spec.project / LOCK_NAME


def _q(s: str) -> str:
    """A TOML basic string (JSON's escapes, plus DEL, which TOML also forbids raw)."""
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(k: str) -> str:
    return k if k.replace("-", "").replace("_", "").isalnum() and k.isascii() else _q(k)


def _table(name: str, items: dict[str, Any]) -> list[str]:
    lines = [f"[{name}]"]
    for k, v in items.items():
        if isinstance(v, list):
            v = "[" + ", ".join(_q(x) for x in v) + "]"
        elif isinstance(v, str):
            v = _q(v)
        else:
            v = json.dumps(v)
        lines.append(f"{_key(k)} = {v}")
    return lines


def _strings(name: str, items: dict[str, str]) -> list[str]:
    return [f"[{name}]", *(f"{_q(k)} = {_q(v)}" for k, v in sorted(items.items()))]


def render(spec: Spec, metas: Sequence[LayerMeta]) -> str:
    """The lock text for a built box."""
    arch = metas[0].arch if metas else "unknown"
    out = [HEADER.rstrip("\n"), f"lock-version = {LOCK_VERSION}", f"arch = {_q(arch)}", ""]
    previous: dict[str, str] = {}
    for m in metas:
        layer = LayerRecipe(m.kind, m.recipe, m.parent, m.digest, m.title)
        name = layer.lock_section
        head: dict[str, Any] = dict(lock_request(layer))
        pins = dict(m.pins or {})
        packages: dict[str, str] = pins.pop("packages", None) or {
            k: v for k, v in m.packages.items() if previous.get(k) != v
        }
        head.update({k: pins[k] for k in sorted(pins, key=lambda k: (k != "version", k))})
        removed = sorted(set(previous) - set(m.packages))
        if removed:
            head["removed"] = removed
        out += _table(name, head)
        if m.kind == "setup" and m.recipe["inputs"]:
            inputs = {k: "sha256:" + v for k, v in m.recipe["inputs"].items()}
            out += ["", *_strings(f"{name}.inputs", inputs)]
        out.append("")
        if packages:
            out += [*_strings(f"{name}.packages", packages), ""]
        previous = m.packages
    return "\n".join(out).rstrip("\n") + "\n"


def write(spec: Spec, metas: Sequence[LayerMeta]) -> Path:
    path = lock_path(spec)
    text = render(spec, metas)
    try:
        if nofollow.read_file(path).decode() == text:
            return path
    except (OSError, DevboxError, UnicodeDecodeError):
        pass
    # the box can write the project dir: a new file renamed over the lock, never through a link
    nofollow.write_replace(path.parent, path.name, text.encode(), 0o644)
    return path


def read(path: Path) -> dict[str, Any] | None:
    """The lock, or None if it is missing, damaged or not a regular file (a symlink)."""
    try:
        return tomllib.loads(nofollow.read_file(path).decode())
    except (OSError, DevboxError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None


def section(doc: dict[str, Any], name: str) -> dict[str, Any] | None:
    node: Any = doc
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, dict) else None


def pins_for(doc: dict[str, Any] | None, layer: LayerRecipe) -> Pins | None:
    """The lock's pins for `layer`, if the lock records this very request; else None."""
    if doc is None or not layer.lockable:
        return None
    table = section(doc, layer.lock_section)
    if table is None:
        return None
    request = lock_request(layer)
    if any(table.get(k) != v for k, v in request.items()):
        return None
    packages = table.get("packages", {})
    if not isinstance(packages, dict):
        return None
    pins: Pins = {k: v for k, v in table.items() if k not in request and k not in INFO_KEYS}
    pins["packages"] = {str(k): str(v) for k, v in packages.items()}
    return pins


def pins_chain(doc: dict[str, Any] | None, layers: Sequence[LayerRecipe]) -> list[Pins | None]:
    """Pins per layer: a layer uses the lock only if every lockable layer below did too."""
    out: list[Pins | None] = []
    usable = doc is not None
    for layer in layers:
        pins = pins_for(doc, layer) if usable else None
        if layer.lockable and pins is None:
            usable = False
        out.append(pins)
    return out


def mismatch(doc: dict[str, Any] | None, layers: Sequence[LayerRecipe]) -> str | None:
    """Why `build --locked` cannot use this lock for these layers (None: it can)."""
    if doc is None:
        return f"there is no readable {LOCK_NAME}"
    for layer in layers:
        if not layer.lockable or pins_for(doc, layer) is not None:
            continue
        table = section(doc, layer.lock_section)
        if table is None:
            return f"{LOCK_NAME} has no [{layer.lock_section}] (the spec asks for {layer.title})"
        diffs = [
            f"{k} = {json.dumps(table.get(k))} in the lock, {json.dumps(v)} in the spec"
            for k, v in lock_request(layer).items()
            if table.get(k) != v
        ]
        return f"{LOCK_NAME} [{layer.lock_section}] does not match the spec: " + "; ".join(
            diffs or ["its packages table is damaged"]
        )
    return None


def diff_pins(old: Pins, new: Pins) -> list[str]:
    """What changed between what the lock pinned and what a build got, one line per item."""
    lines: list[str] = []
    a, b = old.get("packages", {}), new.get("packages", {})
    for name in sorted(set(a) | set(b)):
        if a.get(name) != b.get(name):
            lines.append(f"{name}: locked {a.get(name, '(absent)')}, got {b.get(name, '(absent)')}")
    for k in sorted((set(old) | set(new)) - {"packages"}):
        if old.get(k) != new.get(k):
            lines.append(f"{k}: locked {old.get(k, '(absent)')}, got {new.get(k, '(absent)')}")
    return lines
