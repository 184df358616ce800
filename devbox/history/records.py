"""Generation records: one JSON file per successful build that changed the project's stack,
spec or lock, at `Store.history/<project id>/<n>.json` (0600, in 0700 directories).

A record holds what the build read and made: the spec's and the lock's texts (and their
sha256), the store layer keys of the box's stack (bottom first), the tier's uid map key, the box
name and the time. Records are written whole (a new file linked to its name, so two builds
never share a number) and never changed; gc drops old ones (history.keep).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.plan import lockfile
from devbox.spec.load import parse_spec
from devbox.spec.model import Spec
from devbox.store import private
from devbox.store.layers import LayerMeta
from devbox.store.paths import Store, project_id

VERSION = 1
MAX_RECORD = 16 << 20  # spec and lock texts are small; a bigger file is not one of ours


@dataclass(frozen=True)
class Generation:
    n: int
    time: float
    box: str
    spec_sha256: str
    spec: str
    lock_sha256: str
    lock: str
    stack: tuple[str, ...]  # store layer keys, bottom first
    tier: str  # the uid map the layers were built under (host.Tier.key)

    def same_build(self, other: Generation) -> bool:
        """Do both record the same box (stack, spec, lock and uid map)?"""
        return (self.stack, self.spec_sha256, self.lock_sha256, self.tier) == (
            other.stack, other.spec_sha256, other.lock_sha256, other.tier,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, **asdict(self), "stack": list(self.stack)}

    @classmethod
    def from_json(cls, doc: Any) -> Generation | None:
        """The record in `doc`, or None if it is not a whole record of this version."""
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            return None
        try:
            gen = cls(
                n=int(doc["n"]), time=float(doc["time"]), box=str(doc["box"]),
                spec_sha256=str(doc["spec_sha256"]), spec=str(doc["spec"]),
                lock_sha256=str(doc["lock_sha256"]), lock=str(doc["lock"]),
                stack=tuple(str(k) for k in doc["stack"]), tier=str(doc["tier"]),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError):
            return None
        ok = isinstance(doc["stack"], list) and gen.n > 0 and gen.stack
        return gen if ok and _sha(gen.spec) == gen.spec_sha256 else None


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def history_dir(st: Store, project: Path) -> Path:
    return st.history / project_id(project)


def load(directory: Path) -> list[Generation]:
    """Every whole record in a project's history directory, newest (highest n) first."""
    out: list[Generation] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return out
    for name in names:
        stem = name.removesuffix(".json")
        if not (name.endswith(".json") and stem.isdigit()):
            continue
        try:
            data = nofollow.read_file(directory / name, MAX_RECORD)
            gen = Generation.from_json(json.loads(data))
        except (OSError, DevboxError, ValueError):
            continue
        if gen is not None and gen.n == int(stem):
            out.append(gen)
    return sorted(out, key=lambda g: g.n, reverse=True)


def generations(st: Store, project: Path) -> list[Generation]:
    return load(history_dir(st, project))


def current(gens: Sequence[Generation], stack: Sequence[str] | None) -> Generation | None:
    """The generation whose stack the project uses now (`stack`: the registered one), the
    newest such; None when no record has that stack."""
    if not stack:
        return None
    return next((g for g in gens if list(g.stack) == list(stack)), None)


def record_build(
    st: Store, spec: Spec, metas: Sequence[LayerMeta], tier: str, *, locked: bool
) -> bool:
    """After a successful build of `spec` (its layers, the uid map key; `locked`: the lock was
    only read): write a new generation unless one records this very box already. The lock's
    text is what the build wrote (render) or, `--locked`, read; the spec's is read again (no
    symlink followed) and must parse to `spec`: a spec edited during the build is not what was
    built, and is not recorded. Best effort: True if a record was written."""
    try:
        text = nofollow.read_file(spec.path).decode("utf-8")
        if parse_spec(text, spec.path) != spec:
            return False
        path = lockfile.lock_path(spec)
        lock = nofollow.read_file(path).decode() if locked else lockfile.render(spec, metas)
    except (OSError, DevboxError, UnicodeDecodeError):
        return False
    stack = [m.digest for m in metas]
    directory = history_dir(st, spec.project)
    gens = load(directory)
    new = Generation(
        n=(gens[0].n + 1) if gens else 1, time=time.time(), box=spec.name,
        spec_sha256=_sha(text), spec=text, lock_sha256=_sha(lock), lock=lock,
        stack=tuple(stack), tier=tier,
    )  # fmt: skip
    if any(g.same_build(new) for g in gens):
        return False  # a build that changed nothing (or went back to a generation) writes nothing
    with contextlib.suppress(OSError):
        write(directory, new)
        return True
    return False


def write(directory: Path, gen: Generation) -> Generation:
    """Write `gen` under the first free number from gen.n on: a new file (0600), linked to its
    name, which never replaces a record another build wrote at the same moment."""
    private.mkdirs(directory.parent)
    private.mkdirs(directory)
    tmp = directory / f".tmp-{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, private.FILE_MODE)
    try:
        n = gen.n
        while True:
            gen = replace(gen, n=n)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(gen.to_json(), indent=1).encode(), 0)
            try:
                os.link(tmp, directory / f"{n}.json")
                return gen
            except FileExistsError:
                n += 1
    finally:
        os.close(fd)
        tmp.unlink(missing_ok=True)


def drop(directory: Path, gens: Sequence[Generation]) -> None:
    """Remove these records (gc)."""
    for gen in gens:
        with contextlib.suppress(OSError):
            os.unlink(directory / f"{gen.n}.json")
