"""Shims: small host executables that run one command in a project's box.

The activation hook puts a project's shim directory first on PATH. Which shims there are follows
from the spec alone: its interpreters' commands plus `[shell].expose`. A shim execs devbox's
hidden `_shim` verb with the spec's path, so it always targets its own project, whatever the
current directory; `_shim` re-checks trust, builds a stale box, and runs the command in the box
with the current directory kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import DevboxError
from .paths import state_root
from .spec import Interpreter, Spec

INTERPRETER_COMMANDS = {
    "python": ("python", "python3", "pip", "pip3"),
    "node": ("node", "npm", "npx"),
}


def interpreter_commands(interp: Interpreter) -> list[str]:
    names = list(INTERPRETER_COMMANDS.get(interp.name, ()))
    if interp.name == "python":
        major, minor = interp.version.split(".")[:2]
        names.append(f"python{major}.{minor}")
    return names


def shim_names(spec: Spec) -> list[str]:
    """Every command the hook shims for this spec, each once, in a stable order."""
    names: list[str] = []
    for interp in spec.interpreters:
        names += interpreter_commands(interp)
    names += spec.shell.expose
    return [n for n in dict.fromkeys(names) if n not in (".", "..")]


def sh_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def self_runner() -> tuple[list[str], dict[str, str | None]]:
    """How to start this very devbox again: an argv prefix and the environment it needs
    (PYTHONPATH when it is set now, else unset, so a project's [env] cannot redirect it)."""
    argv = [sys.executable]
    if sys.version_info >= (3, 11):
        argv.append("-P")  # a project directory named `devbox` must not shadow devbox
    argv += ["-m", "devbox"]
    return argv, {"PYTHONPATH": os.environ.get("PYTHONPATH") or None}


def shim_text(
    command: str, runner: Sequence[str], env: Mapping[str, str | None] | None = None
) -> str:
    """A shim's script: set `env` (None: unset), then exec `runner COMMAND "$@"`."""
    lines = ["#!/bin/sh", f"# devbox shim for {command}: runs it in the project's box"]
    for key, value in (env or {}).items():
        lines.append(f"unset {key}" if value is None else f"export {key}={sh_quote(value)}")
    lines.append("exec " + " ".join(sh_quote(a) for a in [*runner, command]) + ' "$@"')
    return "\n".join(lines) + "\n"


def shim_dir(spec_path: Path, runner: Sequence[str], env: Mapping[str, str | None]) -> Path:
    key = "\0".join([os.path.realpath(spec_path), *runner, repr(sorted(env.items()))])
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return state_root() / "shims" / digest[:16]


def write_shims(spec: Spec) -> Path:
    """Write (or refresh) this spec's shims; return their directory."""
    runner, env = self_runner()
    directory = shim_dir(spec.path, runner, env)
    directory.mkdir(parents=True, exist_ok=True)
    prefix = [*runner, "_shim", str(spec.path)]
    wanted = {name: shim_text(name, prefix, env) for name in shim_names(spec)}
    for name, text in wanted.items():
        _write_if_changed(directory / name, text)
    for path in directory.iterdir():
        if path.name not in wanted and not path.name.startswith(".tmp-"):
            with contextlib.suppress(OSError):
                path.unlink()
    return directory


def _write_if_changed(path: Path, text: str) -> None:
    with contextlib.suppress(OSError):
        if path.read_text() == text and os.access(path, os.X_OK):
            return
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def run_shim(args: Sequence[str]) -> int:
    """`devbox _shim SPEC COMMAND [ARG...]`: COMMAND in SPEC's box, if SPEC is trusted."""
    from . import trust
    from .activation import parse_bytes
    from .box import Box, enter
    from .build import ensure_built
    from .host import current_tier
    from .paths import Store
    from .progress import Display

    if len(args) < 2:
        raise DevboxError("usage: devbox _shim SPEC COMMAND [ARG...] (used by the shell hook)")
    spec_path = Path(args[0])
    data = trust.read_trusted(spec_path)
    spec = parse_bytes(spec_path, data)
    display = Display(quiet=False, verbose=False)
    st = Store.default()
    tier = current_tier()
    box = Box(spec, st, ensure_built(spec, st, display, tier), tier)
    enter(box, list(args[1:]), display, cwd=os.getcwd())
