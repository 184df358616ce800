"""Trust for auto-activation: `devbox allow` / `devbox deny`, keyed by the spec's path and content.

The shell hook and its shims build and run only a spec the user allowed, and only as long as its
content is what was allowed: an edit makes it "changed since allowed" until `devbox allow` again.
Each decision is one small file in `<state dir>/trust/`, named by a hash of the spec's real path,
so the hook can watch that one directory (its mtime) to notice an allow or deny in any shell.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from devbox.errors import DevboxError, printable
from devbox.store.paths import state_root

ALLOWED = "allowed"
NOT_ALLOWED = "not allowed"
CHANGED = "changed since allowed"


def trust_dir() -> Path:
    return state_root() / "trust"


def _real(spec_path: Path | str) -> str:
    return os.path.realpath(spec_path)


def _record(spec_path: Path | str) -> Path:
    key = hashlib.sha256(_real(spec_path).encode("utf-8", "surrogateescape")).hexdigest()
    return trust_dir() / f"{key[:32]}.json"


def record_path(spec_path: Path | str) -> Path:
    """The file that holds this spec's trust (deny deletes it, allow rewrites it)."""
    return _record(spec_path)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _allowed_hash(spec_path: Path | str) -> str | None:
    try:
        doc = json.loads(_record(spec_path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("path") != _real(spec_path):
        return None
    digest = doc.get("sha256")
    return digest if isinstance(digest, str) else None


def state_of(spec_path: Path | str, data: bytes) -> str:
    """The trust state of the spec at `spec_path` whose content is `data`."""
    allowed = _allowed_hash(spec_path)
    if allowed is None:
        return NOT_ALLOWED
    return ALLOWED if allowed == content_hash(data) else CHANGED


def state(spec_path: Path | str) -> str:
    """ "allowed", "not allowed" or "changed since allowed" (`devbox status` shows it)."""
    try:
        data = Path(spec_path).read_bytes()
    except OSError:
        return NOT_ALLOWED
    return state_of(spec_path, data)


def is_trusted(spec_path: Path | str) -> bool:
    return state(spec_path) == ALLOWED


def refusal(spec_path: Path | str, current: str) -> str:
    """The one line that says why the hook or a shim will not touch this spec."""
    where = printable(str(spec_path))  # a path with a newline in it stays on one line
    if current == CHANGED:
        return f"{where} changed since it was allowed; `devbox allow` trusts it again"
    return f"{where} is not allowed to activate; `devbox allow` trusts it (read it first)"


def read_trusted(spec_path: Path) -> bytes:
    """The spec's content, read once, if that content is allowed; else a one-line DevboxError."""
    try:
        data = spec_path.read_bytes()
    except OSError as e:
        raise DevboxError(f"cannot read {spec_path}: {e.strerror or e}") from e
    current = state_of(spec_path, data)
    if current != ALLOWED:
        raise DevboxError(refusal(spec_path, current))
    return data


def allow(spec_path: Path, data: bytes) -> None:
    """Trust `data` as the content of the spec at `spec_path`."""
    doc = {"path": _real(spec_path), "sha256": content_hash(data)}
    d = trust_dir()
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
            f.write("\n")
        os.replace(tmp, _record(spec_path))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def deny(spec_path: Path) -> bool:
    """Forget the trust in this spec. False if it was not allowed."""
    try:
        _record(spec_path).unlink()
    except FileNotFoundError:
        return False
    return True
