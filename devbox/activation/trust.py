"""Trust for auto-activation: `devbox allow` / `devbox deny`, bound to the project's real directory.

The shell hook and its shims build and run only a project the user allowed, and only as long as
everything they may build from is what was allowed: the spec's content, devbox.lock's, and the
setup inputs' (covered.py reads them, never through a symlink). Any change makes the project
"changed since allowed", naming what changed, until `devbox allow` again; a lock that devbox
itself rewrites in an allowed project (a build) is followed (`follow_lock`).
A record also remembers the earlier states the user allowed (`restore`: `devbox rollback` to a
spec and lock allowed before is trusted again; one never allowed is not).
Each decision is one small file in `<state dir>/trust/`, named by a hash of the project's real
path, so the hook can watch that one directory (its mtime) to notice an allow or deny in any shell.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devbox.activation import covered
from devbox.errors import DevboxError, printable
from devbox.spec.model import SPEC_NAME, Spec
from devbox.store.paths import state_root

if TYPE_CHECKING:
    from devbox.store.layers import LayerMeta

LOCK_NAME = "devbox.lock"  # as plan.lockfile's (not imported: the hook's path stays light)

ALLOWED = "allowed"
NOT_ALLOWED = "not allowed"
CHANGED = "changed since allowed"
VERSION = 2  # records of version 1 trusted a spec's path and content only: allow again
EARLIER = 16  # allowed states a record remembers besides its own (restore, after a rollback)


@dataclass(frozen=True)
class Verdict:
    state: str
    changes: tuple[str, ...] = ()  # what changed: "devbox.toml", "devbox.lock", "setup input X"
    spec: Spec | None = None  # the spec, parsed, when its content is the allowed one


@dataclass(frozen=True)
class Covered:
    """What an allow covers: content hashes of the spec, the lock (None: none) and each input."""

    spec: str
    lock: str | None
    inputs: dict[str, str] = field(default_factory=dict)


def trust_dir() -> Path:
    return state_root() / "trust"


def project_of(spec_path: Path | str) -> str:
    """The project's real directory: the one holding devbox.toml, by its real path."""
    return os.path.realpath(os.path.dirname(os.path.abspath(spec_path)))


def real_spec(spec_path: Path | str) -> Path:
    """The spec as named from the project's real directory (shims and records use this)."""
    return Path(project_of(spec_path)) / os.path.basename(spec_path)


def record_path(spec_path: Path | str) -> Path:
    """The file that holds this project's trust (deny deletes it, allow rewrites it)."""
    key = hashlib.sha256(project_of(spec_path).encode("utf-8", "surrogateescape")).hexdigest()
    return trust_dir() / f"{key[:32]}.json"


def _load(spec_path: Path | str) -> Covered | None:
    return _read(spec_path)[0]


def _read(spec_path: Path | str) -> tuple[Covered | None, list[Covered]]:
    """The record's allowed state, and the earlier ones it remembers (newest first)."""
    try:
        doc: Any = json.loads(record_path(spec_path).read_text())
    except (OSError, ValueError):
        return None, []
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        return None, []
    if doc.get("project") != project_of(spec_path):
        return None, []
    earlier = doc.get("earlier")
    states = [_covered(d) for d in earlier] if isinstance(earlier, list) else []
    return _covered(doc), [c for c in states if c is not None]


def _covered(doc: Any) -> Covered | None:
    if not isinstance(doc, dict):
        return None
    spec, lock, inputs = doc.get("spec"), doc.get("lock"), doc.get("inputs")
    if not isinstance(spec, str) or not isinstance(lock, (str, type(None))):
        return None
    if not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values()):
        return None
    return Covered(spec, lock, inputs)


def current(spec: Spec, data: bytes) -> Covered:
    """What the project holds now (the lock and inputs read without following a symlink)."""
    lock = covered.lock_hash(spec.project / LOCK_NAME)
    inputs = covered.input_hashes(spec.project, spec.inputs)
    inputs.update(covered.env_file_hashes(spec.project, spec.env_files))
    return Covered(covered.sha256(data), lock, inputs)


def differences(allowed: Covered, now: Covered) -> tuple[str, ...]:
    out = [SPEC_NAME] if allowed.spec != now.spec else []
    if allowed.lock != now.lock:
        out.append(LOCK_NAME)
    for name in sorted(set(allowed.inputs) | set(now.inputs)):
        if allowed.inputs.get(name) != now.inputs.get(name):
            env_file = name.removeprefix(covered.ENV_FILE)
            out.append(f"env file {env_file}" if env_file != name else f"setup input {name}")
    return tuple(out)


def verdict(spec_path: Path, data: bytes, parsed: Spec | None = None) -> Verdict:
    """The trust state of the project whose spec at `spec_path` holds `data` (`parsed`: that
    spec, if the caller parsed it already). The spec is parsed (a SpecError if it is invalid)
    only when its content is the allowed one; then the lock and the setup inputs are hashed and
    compared too."""
    from devbox.spec.load import parse_bytes

    allowed = _load(spec_path)
    if allowed is None:
        return Verdict(NOT_ALLOWED)
    if allowed.spec != covered.sha256(data):
        return Verdict(CHANGED, (SPEC_NAME,))
    spec = parsed or parse_bytes(spec_path, data)
    changes = differences(allowed, current(spec, data))
    return Verdict(CHANGED if changes else ALLOWED, changes, spec)


def describe(v: Verdict) -> str:
    """For `devbox status`: the state and what changed."""
    if v.state != CHANGED:
        return v.state
    return f"{v.state}: {', '.join(printable(c) for c in v.changes)} changed"


def refusal(spec_path: Path | str, v: Verdict) -> str:
    """The one line that says why the hook or a shim will not touch this project."""
    where = printable(str(spec_path))  # a path with a newline in it stays on one line
    if v.state != CHANGED:
        return f"{where} is not allowed to activate; `devbox allow` trusts it (read it first)"
    if v.changes == (SPEC_NAME,):
        return f"{where} changed since it was allowed; `devbox allow` trusts it again"
    what = ", ".join(printable(c) for c in v.changes if c != SPEC_NAME)
    return (
        f"{what} changed since you allowed this project ({printable(project_of(spec_path))}); "
        "`devbox allow` trusts it again (read the changes first)"
    )


def read_trusted(spec_path: Path) -> tuple[bytes, Spec]:
    """The spec's content, read once, and the spec, if the project is allowed as it is now;
    else a one-line DevboxError saying what changed."""
    data = covered.read_spec(spec_path)
    v = verdict(spec_path, data)
    if v.state != ALLOWED or v.spec is None:
        raise DevboxError(refusal(spec_path, v))
    return data, v.spec


def _write(spec_path: Path, what: Covered) -> None:
    """Make `what` the allowed state; the one it replaces is remembered (`earlier`, for
    restore after a rollback)."""
    now, earlier = _read(spec_path)
    kept = [c for c in ([now] if now else []) + earlier if c != what][:EARLIER]
    doc = {"version": VERSION, "project": project_of(spec_path), "spec": what.spec,
           "lock": what.lock, "inputs": what.inputs,
           "earlier": [{"spec": c.spec, "lock": c.lock, "inputs": c.inputs} for c in kept],
           }  # fmt: skip
    d = trust_dir()
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
            f.write("\n")
        os.replace(tmp, record_path(spec_path))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def allow(spec: Spec, data: bytes) -> None:
    """Trust the project as it is now: the spec holding `data`, its lock and setup inputs."""
    _write(spec.path, current(spec, data))


def lock_mark(spec: Spec) -> str | None:
    """The lock's hash before devbox may rewrite it (for follow_lock); "" if unreadable."""
    try:
        return covered.lock_hash(spec.project / LOCK_NAME)
    except (DevboxError, OSError):
        return ""


def follow_lock(
    spec: Spec, data: bytes, before: str | None, metas: Callable[[], Sequence[LayerMeta]]
) -> bool:
    """After a build of this spec (content `data`) by devbox: when the lock changed from
    `before` to exactly what devbox writes for the built layers (`metas`), and the project was
    allowed with this spec and that old lock, the trust record follows to the new lock (the
    user is not asked again for devbox's own write). Anything else is left for the user.
    True if the record was rewritten."""
    from devbox.plan.lockfile import render

    allowed = _load(spec.path)
    if allowed is None or allowed.spec != covered.sha256(data) or allowed.lock != before:
        return False
    try:
        now = covered.lock_hash(spec.project / LOCK_NAME)
    except (DevboxError, OSError):
        return False
    if now is None or now == before or now != covered.sha256(render(spec, metas()).encode()):
        return False
    _write(spec.path, Covered(allowed.spec, now, allowed.inputs))
    return True


def restore(spec_path: Path, spec: str, lock: str | None) -> bool:
    """After `devbox rollback` put back a spec and lock (their sha256): the project is trusted
    again as it was when the user allowed exactly those (the record, or an earlier state it
    remembers, inputs included). False, the record left as it is, if they never allowed them:
    a rollback never makes a spec trusted."""
    now, earlier = _read(spec_path)
    found = next((c for c in [*([now] if now else []), *earlier] if (c.spec, c.lock) ==
                  (spec, lock)), None)  # fmt: skip
    if found is None:
        return False
    if found != now:
        _write(spec_path, found)
    return True


def touch(spec_path: Path) -> None:
    """Bump the trust record's mtime, if there is one: every shim of the project then checks
    trust in Python again before it runs the launcher (after an explicit `devbox run` built what
    the record does not cover, the launcher must not run it for a shim)."""
    with contextlib.suppress(OSError):
        os.utime(record_path(spec_path))


def deny(spec_path: Path) -> bool:
    """Forget the trust in this project. False if it was not allowed."""
    try:
        record_path(spec_path).unlink()
    except FileNotFoundError:
        return False
    return True
