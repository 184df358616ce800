"""Shims: small host executables that run one command in a project's box.

The activation hook puts a project's shim directory first on PATH. Which shims there are follows
from the spec alone: its interpreters' commands plus `[shell].expose`. A shim execs devbox's
hidden `_shim` verb (entry.run_shim) with the spec's path, so it always targets its own project,
whatever the current directory; `_shim` re-checks trust (spec, lock, setup inputs), builds a
stale box, and runs the command in the box with the current directory kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devbox import template
from devbox.spec.model import Interpreter, Spec
from devbox.store import private
from devbox.store.paths import ShimPaths, state_root

# as __main__.SHIM_ENV, exported by shim.sh.in: a launcher's hand-over checks this spec's trust
SHIM_ENV = "DEVBOX_SHIM_SPEC"
TMP = ".tmp-"  # a shim being written

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


TEMPLATE = template.load(__file__, "shim.sh.in")


@dataclass(frozen=True)
class FastPath:
    """What lets a shim skip Python: the project's launcher, and stamps (ShimPaths.verified)
    whose mtimes are the spec's and its trust record's when devbox last checked the trust."""

    spec: str
    launcher: str
    record: str
    verified_spec: str
    verified_trust: str


def shim_text(
    command: str, runner: Sequence[str], env: Mapping[str, str | None], fast: FastPath
) -> str:
    """A shim's script (shim.sh.in): set `env` (None: unset), then run the launcher when the
    spec and its trust are as devbox last checked them (builtins only: `[ -nt ]`/`[ -ot ]` on
    stamps), else `runner COMMAND "$@"`, which checks trust and rewrites the stamps."""
    q = sh_quote
    launcher = Path(fast.launcher)  # STORE/projects/ID/launcher (paths.launcher_path)
    owned = [launcher, *(launcher.parents[i] for i in range(3))]
    setenv = [f"unset {k}" if v is None else f"export {k}={q(v)}" for k, v in env.items()]
    values = {
        "ENV": template.Code("\n".join(setenv)),
        "SPEC": fast.spec,
        "LAUNCHER": fast.launcher,
        "OWNED": template.Code(" && ".join(f"[ -O {q(str(p))} ]" for p in reversed(owned))),
        "RECORD": fast.record,
        "VERIFIED_SPEC": fast.verified_spec,
        "VERIFIED_TRUST": fast.verified_trust,
        "COMMAND": command,
        "RUNNER": template.Code(" ".join(q(a) for a in runner)),
    }
    return template.fill(TEMPLATE, values, q)


def fast_path(spec: Spec, directory: Path) -> FastPath:
    from devbox.activation import trust
    from devbox.store.paths import Store, launcher_path

    shims = ShimPaths(directory)
    return FastPath(
        spec=str(spec.path),
        launcher=str(launcher_path(spec.project, Store.default().root)),
        record=str(trust.record_path(spec.path)),
        verified_spec=str(shims.verified_spec),
        verified_trust=str(shims.verified_trust),
    )


def stamp_verified(directory: Path, spec_mtime: int, record_mtime: int) -> None:
    """Record that the spec with this mtime, under the trust record with this one, is trusted."""
    shims = ShimPaths(directory)
    private.mkdirs(shims.verified)
    for stamp, mtime in ((shims.verified_spec, spec_mtime), (shims.verified_trust, record_mtime)):
        stamp.touch()
        os.utime(stamp, ns=(mtime, mtime))


def stamp_checked(spec_path: Path, spec_mtime: int | None, record_mtime: int | None = None) -> None:
    """Stamp this spec's shims as checked with these mtimes (the record's: now, if not given)."""
    from devbox.activation import trust
    from devbox.activation.launcher import mtime_ns

    if record_mtime is None:
        record_mtime = mtime_ns(trust.record_path(spec_path))
    if spec_mtime is not None and record_mtime is not None:
        runner, env = self_runner()
        with contextlib.suppress(OSError):
            stamp_verified(shim_dir(spec_path, runner, env), spec_mtime, record_mtime)


def shim_dir(spec_path: Path, runner: Sequence[str], env: Mapping[str, str | None]) -> Path:
    """Keyed by the spec's path as named, not its real path: a directory symlink a box plants
    (to another project) gets shims of its own, and never rewrites that project's."""
    key = "\0".join([os.path.abspath(spec_path), *runner, repr(sorted(env.items()))])
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return state_root() / "shims" / digest[:16]


def write_shims(spec: Spec) -> Path:
    """Write (or refresh) this spec's shims; return their directory."""
    runner, env = self_runner()
    directory = shim_dir(spec.path, runner, env)
    private.mkdirs(directory)
    prefix = [*runner, "_shim", str(spec.path)]
    fast = fast_path(spec, directory)
    wanted = {name: shim_text(name, prefix, env, fast) for name in shim_names(spec)}
    for name, text in wanted.items():
        _write_if_changed(directory / name, text)
    keep = (TMP, ShimPaths(directory).verified.name)
    for path in directory.iterdir():
        if path.name not in wanted and not path.name.startswith(keep):
            with contextlib.suppress(OSError):
                path.unlink()
    return directory


def _write_if_changed(path: Path, text: str) -> None:
    with contextlib.suppress(OSError):
        if path.read_text() == text and os.access(path, os.X_OK):
            return
    fd, tmp = tempfile.mkstemp(prefix=TMP, dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o700)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
