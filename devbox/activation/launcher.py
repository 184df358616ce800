"""The per-project launcher: a POSIX sh script holding the finished sandbox argv.

`devbox run -- CMD` (through fastpath.py) and the activation shims exec it: `LAUNCHER CMD
[ARGS...]` runs CMD in the box with the current directory kept, stdio and exit status passed
through, for the price of `sh` + `nsenter` + `bwrap`, no Python. It is written by the
Python path each time that path enters the box (entry.enter_box), so it always holds what that
path would exec.

It checks, with shell builtins only (stat, not hashing): every file it was derived from has the
mtime it had when the launcher was written, to the nanosecond (spec, lock, setup inputs,
devbox's own sources, the subuid files), with one stamp file per input carrying that mtime; the
layers are in the store; the writable layer was made for this stack; $HOME, DEVBOX_TIER and
DEVBOX_LINGER are as they were. Then it joins the running supervisor, or starts it (under the
start lock, as start.ensure_running does), holding the sessions FIFO on fd 8 for the session's
whole life (sessions.py). Anything stale or unusual (a supervisor that died, a box running an
older build, an empty home) hands over to `python -m devbox run -- CMD...`, which sorts it out
and rewrites the launcher; DEVBOX_LAUNCHER_SPEC tells that run which project it is for and not
to come back here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from devbox.fastpath import HANDOVER_ENV, INDEX_ENTRY
from devbox.plan.recipe import workdir_of
from devbox.sandbox import argv as sandbox
from devbox.sandbox import box as boxmod
from devbox.sandbox import boxenv, enter, host, seccomp, sessions, supervisor
from devbox.sandbox import start as starting
from devbox.spec.model import Spec
from devbox.store import fs
from devbox.store.paths import launcher_index

FORMAT = 1
MAX_WATCHED = 1000  # more inputs than this: hand over to Python every time
SECCOMP_FD = 3
LOCK_FD = 8  # the sessions FIFO
START_FD = 7
# devbox's own code that shapes the launcher: an upgrade (or an edit) makes launchers stale
SOURCES = (
    "activation/launcher.py",
    "sandbox/argv.py",
    "sandbox/supervisor.py",
    "sandbox/box.py",
    "sandbox/start.py",
    "sandbox/enter.py",
    "sandbox/sessions.py",
    "sandbox/boxenv.py",
    "sandbox/shellrc.py",
    "sandbox/host.py",
)

_CMD = "\x00cmd\x00"
_CWD = "\x00cwd\x00"
_PID = "\x00pid\x00"
_EXPR = {_CMD: '"$@"', _CWD: '"$c"', _PID: '"$pid"'}

Snapshot = dict[str, int | None]  # path -> mtime in ns, None if absent


def mtime_ns(path: str | Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def watched(spec: Spec, tier: host.Tier) -> list[str]:
    """Every file the launcher's argv is derived from, spec and lock excepted."""
    paths: list[str] = []
    for rel in spec.setup.inputs:
        p = spec.project / rel
        paths.append(str(p))
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                paths += [os.path.join(dirpath, n) for n in sorted(dirnames + filenames)]
    here = Path(__file__).parents[1]
    paths += [str(here / name) for name in SOURCES]
    if tier.level > 1:
        paths += ["/etc/subuid", "/etc/subgid"]
    return paths


def layer_files(box: boxmod.Box) -> list[str]:
    """The layers' meta.json files: a layer built again (same digest, new directory) has a new
    one, and a box still running on the old directory must not be joined."""
    return [str(box.store.layer_dir(d) / "meta.json") for d in box.stack]


def snapshot(paths: Iterable[str]) -> Snapshot:
    return {p: mtime_ns(p) for p in paths}


def _word(w: str) -> str:
    """Quote one argv word for sh, with the launcher's placeholders as shell expressions."""
    if w in _EXPR:
        return _EXPR[w]
    out = ""
    rest = w
    while True:
        hits = [(rest.find(t), t) for t in (_CWD, _PID) if t in rest]
        if not hits:
            return out + (shlex.quote(rest) if rest or not out else "")
        i, t = min(hits)
        if rest[:i]:
            out += shlex.quote(rest[:i])
        out += _EXPR[t]
        rest = rest[i + len(t) :]


def _words(argv: Iterable[str]) -> str:
    return " ".join(_word(w) for w in argv)


def env_options(entry_env: Mapping[str, str], probed: Mapping[str, str]) -> list[str] | None:
    """bwrap options that give the command the env `devbox run` would, host values passed
    through at run time; None when [env] derives a value from the host's (then only the
    Python path can compute it). `entry_env`/`probed`: the box env without host values and
    with a marker for each."""
    lines: list[str] = []
    static: list[str] = []
    for key in sorted(set(entry_env) | set(probed)):
        mine, theirs = entry_env.get(key), probed.get(key)
        if key in boxenv.PASS_THROUGH and theirs == _probe(key):
            if key == "TERM":
                lines.append('--setenv TERM "$TERM"')
            else:
                lines.append(f'${{{key}+--setenv}} ${{{key}+{key}}} ${{{key}+"${key}"}}')
        elif mine != theirs:
            return None
        elif mine is not None:
            static.append(f"--setenv {shlex.quote(key)} {shlex.quote(mine)}")
    return ["--clearenv", *lines, *static]


def _probe(key: str) -> str:
    return f"\x01devbox-probe-{key}\x01"


def render(
    box: boxmod.Box,
    snap: Snapshot,
    stamps: str,
    python: str,
    spec_path: str,
) -> str:
    """The launcher's text. `snap`: the watched files; `stamps`: the dir of their stamp files
    (named by index); `python`: the interpreter for the hand-over."""
    q = shlex.quote
    p = box.paths
    spec = box.spec
    handover = (
        f"DEVBOX_HOME={q(str(box.store.root))} {HANDOVER_ENV}={q(spec_path)} "
        f'exec {q(python)} -m devbox run -- "$@"'
    )
    head = [
        "#!/bin/sh",
        f"# devbox-launcher {FORMAT}: runs a command in the box of {spec.project}",
        "# Written by devbox (launcher.py) each time it enters the box; do not edit.",
        "# Usage: launcher CMD [ARG...]  (the current directory is kept; stdio and exit",
        "# status pass through). Anything stale or unusual hands over to `devbox run`.",
        f"handover() {{ exec {START_FD}>&- {LOCK_FD}>&-; {handover}; }}",
    ]
    entry_env, probed, entry = _entries(box)
    env = env_options(entry_env, probed)
    if env is None or len(snap) > MAX_WATCHED:
        return "\n".join([*head, 'handover "$@"', ""])
    stale = [f"[ -f {q(str(box.store.layer_dir(d) / 'meta.json'))} ]" for d in box.stack]
    stale = [f"! {t}" for t in stale]
    for d in (p.run, p.rc, p.upper, p.work, p.merged, p.home):
        stale.append(f"! [ -d {q(str(d))} ]")
    for i, (path, mtime) in enumerate(snap.items()):
        if mtime is None:
            stale.append(f"[ -e {q(path)} ]")
        else:
            stale.append(f'changed {q(path)} "$S/{i}"')
    stale.append(f'[ "${{HOME-}}" != {q(os.environ.get("HOME", ""))} ]')
    linger = os.environ.get(sessions.LINGER_ENV, "")
    stale.append(f'[ "${{{sessions.LINGER_ENV}-}}" != {q(linger)} ]')
    if box.tier.level > 1:
        stale.append(f'[ "${{DEVBOX_TIER-}}" != {q(os.environ.get("DEVBOX_TIER", ""))} ]')
    want = "".join(f"{d} " for d in box.stack)
    project = str(spec.project)
    workdir = workdir_of(spec)
    case = []
    for root in dict.fromkeys([project, os.path.realpath(project)]):
        r = q(root.rstrip("/"))
        case.append(f"  {r}|{r}/*) c={q(workdir.rstrip('/'))}${{PWD#{r}}} ;;")
    start = starting.supervisor_command(box)
    join = sandbox.join_argv(
        host.tool("nsenter"), _PID, box.tier.userns, keep_credentials=entry.keep_credentials
    )
    session = dataclasses.replace(entry.session, cwd=_CWD)
    bw = sandbox.bwrap_argv(host.tool("bwrap"), session)
    flock, setsid = q(host.tool("flock")), q(host.tool("setsid"))
    seccomp_redirect = f' {SECCOMP_FD}<"$S/seccomp.bpf"' if box.tier.seccomp else ""
    body = [
        f"S={q(stamps)}",
        f"P={q(str(p.root))}",
        'changed() { [ ! -e "$2" ] || [ ! -e "$1" ] || [ "$1" -nt "$2" ] || [ "$1" -ot "$2" ]; }',
        '[ $# -gt 0 ] || handover "$@"',
        "if " + " ||\n  ".join(stale) + '\nthen handover "$@"; fi',
        "have=",
        '[ -f "$P/upper.stack" ] || handover "$@"',
        'while IFS= read -r l || [ -n "$l" ]; do have="$have$l "; done < "$P/upper.stack"',
        f'[ "$have" = {q(want)} ] || handover "$@"',
        'cd -P . 2>/dev/null || handover "$@"',
        "case $PWD in",
        *case,
        f"  *) c={q(workdir)} ;;",
        "esac",
        '[ -n "$c" ] || c=/',
        "Q=$P/run/sessions.fifo; F=$P/run/supervisor.pid",
        f"H={q(supervisor.supervisor_cmdline_head(str(p.supervisor_pid)))}",
        # the pid names a live supervisor of this box: its cmdline starts with its pid file
        'alive() { [ -n "$pid" ] && { IFS= read -r l 2>/dev/null < "/proc/$pid/cmdline"; } '
        '&& [ "$l" = "$H" ]; }',
        # a session from here on (sessions.py): the supervisor stays while we hold the FIFO
        f'[ -p "$Q" ] && exec {LOCK_FD}<>"$Q" && echo >&{LOCK_FD} || handover "$@"',
        'pid=; [ ! -f "$F" ] || read -r pid < "$F"',
        "if ! alive; then",
        f'  exec {START_FD}>>"$P/run/start.lock" && {flock} -x {START_FD} || handover "$@"',
        '  pid=; [ ! -f "$F" ] || read -r pid < "$F"',
        "  if ! alive; then",
        '    [ ! -e "$F" ] || handover "$@"  # a supervisor died: let devbox look for orphans',
        '    full "$P/home" || handover "$@"',
        f'    echo {q(boxmod.stack_ids(box))} > "$P/run/{boxmod.STACK_IDS}"',
        f"    ready=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C {setsid} "
        + _words(start)
        + f' 3>&1 >"$P/run/supervisor.log" 2>&1 </dev/null {START_FD}>&- {LOCK_FD}>&- &)',
        '    pid=; [ ! -f "$F" ] || read -r pid < "$F"',
        '    alive || handover "$@"',
        "  fi",
        f"  exec {START_FD}>&-",
        "fi",
        '[ -n "${TERM-}" ] || TERM=dumb',
        f"exec {_words(join)} {q(bw[0])} {' '.join(env)} {_words(bw[1:])}{seccomp_redirect}",
        "",
    ]
    full = [
        'full() { for f in "$1"/* "$1"/.[!.]* "$1"/..?*; do '
        '{ [ -e "$f" ] || [ -L "$f" ]; } && return 0; done; return 1; }'
    ]
    return "\n".join([*head, *full, *body])


def _entries(box: boxmod.Box) -> tuple[dict[str, str], dict[str, str], enter.Entry]:
    """The box env with no host values and with probe markers, and the session to enter."""
    fd = SECCOMP_FD if box.tier.seccomp else None
    plain = enter.plan_entry(box, [_CMD], cwd=str(box.spec.project), root=False, host_env={})
    probes = {k: _probe(k) for k in boxenv.PASS_THROUGH}
    probed = enter.plan_entry(box, [_CMD], cwd=str(box.spec.project), root=False, host_env=probes)
    entry = enter.plan_entry(box, [_CMD], cwd=str(box.spec.project), root=False, seccomp_fd=fd)
    return plain.env, probed.env, entry


def write(box: boxmod.Box, snap: Snapshot, spec_path: str) -> Path | None:
    """Write the project's launcher (atomically, under a lock); None if there is no Python to
    hand over to. `snap`: the mtimes of every file the box was derived from, taken before
    they were read."""
    python = sys.executable
    if not python:
        return None
    p = box.paths
    data = p.launcher_data
    data.mkdir(parents=True, exist_ok=True)
    with fs.flocked(data / ".lock"):
        gen = data / f"{time.time_ns():x}-{os.getpid()}"
        gen.mkdir()
        for i, mtime in enumerate(snap.values()):
            if mtime is not None:
                stamp = gen / str(i)
                stamp.touch()
                os.utime(stamp, ns=(mtime, mtime))
        if box.tier.seccomp:
            (gen / "seccomp.bpf").write_bytes(seccomp.filter_bytes())
        text = render(box, snap, str(gen), python, spec_path)
        tmp = p.root / f".{p.launcher.name}.new"
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, p.launcher)
        for old in data.iterdir():
            if old != gen and old.name != ".lock":
                fs.remove_tree(old)
    write_index(box.spec.project, box.store.root, p.launcher)
    return p.launcher


def discard(box: boxmod.Box) -> None:
    """Remove the launcher (when it could not be rewritten, it must not outlive its inputs)."""
    with contextlib.suppress(OSError):
        box.paths.launcher.unlink(missing_ok=True)
    drop_index(box.spec.project, box.store.root)


def write_index(project: Path, store_root: Path, launcher: Path) -> bool:
    """Point the project's by-path index entry (paths.launcher_index) at its launcher, replacing
    it atomically. Best effort: without an entry, the `devbox` front takes the Python path,
    which finds the launcher by hashing. False if the entry could not be written."""
    entry = launcher_index(project, store_root)
    target = str(launcher.absolute())  # not normalised: `..` is for the kernel to resolve
    with contextlib.suppress(OSError):
        if os.readlink(entry) == target:
            return True
    tmp = entry.with_name(f"{INDEX_ENTRY}.{os.getpid()}.new")
    for _ in range(3):  # a gc may remove the empty directory just made: make it again
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            tmp.unlink(missing_ok=True)
            os.symlink(target, tmp)
            os.replace(tmp, entry)
            return True
        except FileNotFoundError:
            continue
        except OSError:  # e.g. a project path with a component named .launcher
            break
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)
    return False


def drop_index(project: Path, store_root: Path) -> None:
    """Remove the project's by-path index entry, if it is one (a symlink)."""
    entry = launcher_index(project, store_root)
    with contextlib.suppress(OSError):
        if entry.is_symlink():
            entry.unlink()
