"""The hook's activation cache: `cd` into an allowed, unchanged project without starting devbox.

Each time `_hook-env` activates a trusted project, it keeps what it printed (the watch line and
the activation code, verbatim) in a file of devbox's state dir, behind a guard: shell code that
checks, with builtins only, everything that output came from. The hook finds the file from the
spec's path alone (`/` and `%` escaped: one name per path, no hashing in the shell) and sources
it before it would start devbox; when the guard passes, that is the activation, and devbox is not
started. The guard checks, as the prompt does (stamp files, `path mtime` in fish):
- the project's directory is the real one it was (`-ef`), the spec, devbox.lock, each `[env]`
  file and each setup input have their mtimes, and none of them became a symlink: anything the
  trust record hashes, so a change goes to devbox, which refuses it and says what changed;
- the trust directory's mtime (any allow or deny), the shims directory is there;
- the variables the output derives from, as devbox would inherit them (exported, or empty):
  PATH, those `[env]` names with `${VAR}`, and what the store and state dir are found from;
- devbox's own modules that produced it (an upgrade, an edit in an editable install).

It is written only after the trust check passed, from a second read of the spec that is the
allowed one, with the stamps taken before that read; a project with `[services]` (the hook says
which run) is not kept, and nothing is kept for a path too long to be a file name. `devbox allow`,
`deny`, `gc` and `reset` remove every cache (`clear`). Its directory is keyed by the shell and by
how this devbox is started (as shims are), so each installation reads what it wrote.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import sys
import time
from pathlib import Path

from devbox import nofollow
from devbox.activation import covered, trust
from devbox.activation.shellquote import quote
from devbox.activation.stamps import stamp, stamp_of
from devbox.errors import DevboxError
from devbox.sandbox.boxenv import referenced
from devbox.spec.model import Spec
from devbox.store import private
from devbox.store.paths import state_root

FORMAT = "1"  # the cache file's protocol with the hook's functions (_devbox_same, _devbox_is...)
DIR = "activation"
NAME_MAX = 255
MAX_WATCHED = 256  # project files: more, and the hook starts devbox as before
# What the store, the state dir, the shims and PATH are found from (store/paths.py, fastpath)
ENV = ("PATH", "HOME", "DEVBOX_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME")
HEAD = (
    "# devbox: the activation the shell hook evals for this project, kept while nothing it was\n"
    "# made from changed (devbox/activation/hookcache.py writes it; the hook sources it)\n"
)

Watched = list[tuple[str, int | None]]  # project files and their mtimes (None: missing)


def cache_dir(shell: str) -> Path:
    """Where this shell's caches are, for the devbox that is running (its runner and format)."""
    from devbox.activation.shims import self_runner

    argv, env = self_runner()
    key = "\0".join([FORMAT, shell, *argv, repr(sorted(env.items()))])
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return state_root() / DIR / f"{shell}-{digest[:16]}"


def hook_dir(shell: str) -> str:
    """cache_dir for the hook's text; "" (no cache) when there is no state dir to keep it in."""
    try:
        return str(cache_dir(shell))
    except (DevboxError, OSError):
        return ""


def file_name(spec_arg: str) -> str:
    """The cache's name for a spec path: as the hook computes it (`%` then `/` escaped)."""
    return spec_arg.replace("%", "%25").replace("/", "%2F")


def cache_path(shell: str, spec_arg: str) -> Path | None:
    name = file_name(spec_arg)
    if not os.path.isabs(spec_arg) or len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        return None
    return cache_dir(shell) / name


def clear() -> None:
    """Remove every cache (an allow, a deny, gc, reset), and the stamps only caches name: the
    next cd into any project starts devbox."""
    with contextlib.suppress(OSError, DevboxError):
        root = state_root()
        shutil.rmtree(root / DIR, ignore_errors=True)
        for tag in ("file", "code"):
            for old in (root / "hook").glob(f"{tag}-*"):
                with contextlib.suppress(OSError):
                    old.unlink()


def keep(shell: str, spec_arg: str, values: list[str], output: str, activated: bool) -> None:
    """After `_hook-env` printed `output` for SPEC (`values`: its watch stamps, made before the
    spec was read): keep it behind its guard when it `activated` a project that is still
    allowed, else remove the cache. Best effort: a failure removes it."""
    try:
        path = cache_path(shell, spec_arg)
    except (DevboxError, OSError):
        return
    if path is None:
        return
    try:
        guard = _guard(shell, Path(spec_arg), values) if activated else None
        if guard is None:
            path.unlink(missing_ok=True)
        else:
            _write(path, f"{HEAD}{guard}\n{output}{'fi' if shell != 'fish' else 'end'}\n")
    except (DevboxError, OSError):
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _write(path: Path, text: str) -> None:
    private.mkdirs(path.parent)
    data = text.encode("utf-8", "surrogateescape")
    nofollow.write_replace(path.parent, path.name, data, 0o600)


def _guard(shell: str, spec_path: Path, values: list[str]) -> str | None:
    """The guard's code (the `if` line, up to `then`), or None when this cannot be kept."""
    if any(v == "racy" or v.endswith("-racy") for v in values):
        return None  # the next look starts devbox anyway
    now = time.time_ns()
    data = covered.read_file(spec_path)
    if data is None:
        return None
    from devbox.spec.load import parse_bytes

    spec = parse_bytes(spec_path, data)
    files = watched(spec) if not spec.services else None
    if files is None:
        return None
    code = own_code()
    if trust.verdict(spec_path, data, spec).state != trust.ALLOWED:
        return None  # stamps made, then read again: what they mirror is what was allowed
    names = dict.fromkeys([*ENV, *(n for _, v in spec.env for n in referenced(v))])
    env = [(n, os.environ.get(n, "")) for n in names]
    from devbox.activation.shims import self_runner, shim_dir

    shims = str(shim_dir(spec_path, *self_runner()))
    real = trust.project_of(spec_path)
    if shell == "fish":
        return _fish(spec_path, real, values, files, shims, env, code, now)
    return _posix(shell, spec_path, real, values, files, shims, env, code, now)


def watched(spec: Spec) -> Watched | None:
    """devbox.lock, the [env] files and the setup inputs (every file and directory under one),
    each with its mtime, read without following a symlink; None when one is a symlink (trust
    hashes a link as its target string, the shell's tests would follow it) or there are too
    many."""
    out: Watched = []
    for rel in (trust.LOCK_NAME, *spec.env_files, *spec.inputs):
        *head, name = nofollow.parts(rel) or ["."]
        try:
            dirfd = nofollow.open_dir(spec.project, "/".join(head))
        except FileNotFoundError:
            out.append((str(spec.project / rel), None))
            continue
        try:
            if not _one(dirfd, name, str(spec.project.joinpath(*head)), out):
                return None
        finally:
            os.close(dirfd)
        if len(out) > MAX_WATCHED:
            return None
    return out


def _one(dirfd: int, name: str, where: str, out: Watched) -> bool:
    path = os.path.join(where, name) if name != "." else where
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        out.append((path, None))
        return True
    if stat.S_ISLNK(st.st_mode):
        return False
    out.append((path, st.st_mtime_ns))
    if stat.S_ISDIR(st.st_mode):
        sub = nofollow.open_dir(dirfd, name)
        try:
            for rel, est, _fd, _n in nofollow.walk(sub):
                if stat.S_ISLNK(est.st_mode) or len(out) > MAX_WATCHED:
                    return False
                out.append((f"{path}/{rel}", est.st_mtime_ns))
        finally:
            os.close(sub)
    return True


def own_code() -> list[str]:
    """devbox's own modules this process ran: what the activation it printed was made by."""
    files = {getattr(m, "__file__", None) for n, m in list(sys.modules.items())
             if n == "devbox" or n.startswith("devbox.")}  # fmt: skip
    return sorted(f for f in files if isinstance(f, str))


def _mtime(path: str) -> int | None:
    with contextlib.suppress(OSError):
        return os.stat(path).st_mtime_ns
    return None


def _posix(
    shell: str, spec_path: Path, real: str, values: list[str], files: Watched, shims: str,
    env: list[tuple[str, str]], code: list[str], now: int,
) -> str | None:  # fmt: skip
    def q(v: str) -> str:
        return quote(shell, v)

    spec_stamp, tdir, trust_stamp = values
    newest = max(code, key=lambda f: _mtime(f) or 0)
    code_stamp = str(stamp(newest, "code", now))
    if code_stamp.endswith("-racy"):
        return None
    tests = [f"[[ {q(str(spec_path.parent))} -ef {q(real)} && -d {q(shims)} ]]",
             f"_devbox_same {q(str(spec_path))} {q(spec_stamp)}",
             f"! _devbox_stale {q(tdir)} {q(trust_stamp)}"]  # fmt: skip
    for path, mtime in files:
        made = str(stamp_of(path, mtime, "file", now))
        if made.endswith("-racy"):
            return None
        tests.append(f"_devbox_same {q(path)} {q(made)}")
    tests.append(f"! _devbox_newer {q(code_stamp)} " + " ".join(q(f) for f in code))
    tests += [f"_devbox_is {name} {q(value)}" for name, value in env]
    return "if " + " &&\n    ".join(tests) + "\nthen"


def _fish(
    spec_path: Path, real: str, values: list[str], files: Watched, shims: str,
    env: list[tuple[str, str]], code: list[str], now: int,
) -> str | None:  # fmt: skip
    from devbox.activation.stamps import seconds_of

    def q(v: str) -> str:
        return quote("fish", v)

    spec_secs, tdir, trust_secs = values
    secs = [seconds_of(_mtime(f), now) for f in code]
    if "racy" in secs:
        return None
    tests = [f'test "$(path resolve -- {q(str(spec_path.parent))})" = {q(real)}',
             f"test -d {q(shims)}",
             f"_devbox_same {q(str(spec_path))} {q(spec_secs)}",
             f'test "$(path mtime -- {q(tdir)})" = {q(trust_secs)}']  # fmt: skip
    for path, mtime in files:
        got = seconds_of(mtime, now)
        if got == "racy":
            return None
        tests.append(f"_devbox_same {q(path)} {q(got)}")
    tests.append(f"_devbox_mtimes {q(' '.join(secs))} " + " ".join(q(f) for f in code))
    tests += [f"_devbox_is {name} {q(value)}" for name, value in env]
    return "if " + "\n    and ".join(tests)
