"""The per-project launcher: a POSIX sh script holding the finished sandbox argv.

`devbox run -- CMD` (through fastpath.py) and the activation shims run it: `LAUNCHER CMD [ARGS...]`
runs CMD in the box, the current directory kept, stdio, exit status and a terminal's signals passed
through, for the price of `sh` + `nsenter` + `bwrap`, no Python. The Python path writes it each
time it enters the box (entry.enter_box), so it holds what that path would exec.

It checks, with shell builtins only (stat, not hashing): every file it was derived from has the
mtime it had when written, to the nanosecond (spec, lock, setup inputs, devbox's own sources, the
subuid files), one stamp file per input carrying that mtime; the layers are in the store; the
writable layer was made for this stack; $HOME, DEVBOX_TIER, DEVBOX_LINGER are as they were. It
joins the box's cgroups ([limits]), then the running supervisor, or starts it (under the start
lock, as start.ensure_running does), holding the sessions FIFO on fd 8 for the session's whole
life (sessions.py). Anything stale or unusual (a supervisor that died, a box running an older
build, an empty home) hands over to `python -m devbox run -- CMD...`, which sorts it out and
rewrites the launcher (DEVBOX_LAUNCHER_SPEC: for which project, and not to come back here).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from shlex import quote as q

from devbox import fastpath, template
from devbox.activation.launchwords import (
    _CMD,
    _CWD,
    _NEW_SESSION,
    _PID,
    _probe,
    _words,
    env_options,
)
from devbox.activation.scripts import script_cases
from devbox.resources import made_of
from devbox.sandbox import argv as sandbox
from devbox.sandbox import box as boxmod
from devbox.sandbox import (
    boxenv,
    enter,
    host,
    limits,
    network,
    seccomp,
    sessions,
    share,
    supervisor,
)
from devbox.sandbox import start as starting
from devbox.spec.model import Spec
from devbox.store import fs, private, projects
from devbox.store.paths import ProjectPaths
from devbox.template import Code

MAX_WATCHED = 1000  # more inputs than this: hand over to Python every time
SECCOMP_FD = 3
SECCOMP_FILE = "seccomp.bpf"  # beside the stamps
# devbox's own files: one `-nt` each against one stamp as new as the newest (~0.3 ms for ~30)
CODE_STAMP = "code"
SHAPED_BY = ("devbox.activation.launcher", "devbox.plan.resolve")  # + what they import (made_of)
TEMPLATE = template.load(__file__, "launcher.sh.in")
HANDOVER_TEMPLATE = template.load(__file__, "launcher-handover.sh.in")


Snapshot = dict[str, int | None]  # path -> mtime in ns, None if absent


def mtime_ns(path: str | Path) -> int | None:
    with contextlib.suppress(OSError):
        return os.stat(path).st_mtime_ns
    return None


def watched(spec: Spec, tier: host.Tier) -> list[str]:
    """Every file the launcher's argv is derived from ([env] files too), spec and lock excepted."""
    paths = [str(spec.project / rel) for rel in spec.env_files]
    for rel in spec.inputs:
        p = spec.project / rel
        paths.append(str(p))
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                paths += [os.path.join(dirpath, n) for n in sorted(dirnames + filenames)]
    paths += made_of(*SHAPED_BY)  # an upgrade, or an edit, makes launchers stale
    if tier.level > 1:
        paths += ["/etc/subuid", "/etc/subgid"]
    return paths + host.ca_files() + host.git_configs() + share.watched(spec)


def layer_files(box: boxmod.Box) -> list[str]:
    """The layers' meta.json files: a layer built again (same digest, new directory) has a new
    one, and a box still running on the old directory must not be joined."""
    return [str(box.store.layer_meta(d)) for d in box.stack]


def snapshot(paths: Iterable[str]) -> Snapshot:
    return {p: mtime_ns(p) for p in paths}


def render(box: boxmod.Box, snap: Snapshot, stamps: str, python: str, spec_path: str) -> str:
    """The launcher's text (launcher.sh.in). `snap`: the watched files; `stamps`: the dir of
    their stamp files (named by index); `python`: the interpreter for the hand-over."""
    handover = {"STORE": handover_home(box), "SPEC": spec_path, "PYTHON": python}
    entry_env, probed, entry = _entries(box)
    env = env_options(entry_env, probed)
    if env is None or len(snap) > MAX_WATCHED:
        return template.fill(HANDOVER_TEMPLATE, handover)
    p = box.paths
    start = starting.supervisor_command(box)
    join = entry.join(host.tool("nsenter"), _PID, box.tier.userns)
    bw = sandbox.bwrap_argv(host.tool("bwrap"), dataclasses.replace(entry.session, cwd=_CWD))
    bw = [_NEW_SESSION if w == "--new-session" else w for w in bw]
    seccomp_redirect = f' {SECCOMP_FD}<"$S/{SECCOMP_FILE}"' if seccomp.supported() else ""
    values = {
        **handover,
        **_in_project_dir(p),
        "STAMPS": stamps,
        "PROJECT_DIR": str(p.root),
        "STALE": Code(" ||\n  ".join(_stale(box, snap))),
        "STACK": "".join(f"{d} " for d in box.stack),
        "CWD_CASES": Code("\n".join(_cwd_cases(box.spec, box.workdir))),
        "WORKDIR": box.workdir,
        "SUPERVISOR_HEAD": supervisor.supervisor_cmdline_head(str(p.supervisor_pid)),
        "FLOCK": host.tool("flock"),
        "STACK_IDS": boxmod.stack_ids(box),
        "SUPERVISOR_ENV": Code(" ".join(f"{k}={q(v)}" for k, v in starting.SUPERVISOR_ENV.items())),
        "SETSID": host.tool("setsid"),
        "SUPERVISOR": Code(_words(start)),
        "JOIN": Code(_words(join)),
        "BWRAP": bw[0],
        "ENV": Code(" ".join(env)),
        "BWRAP_ARGS": Code(_words(bw[1:])),
        "SECCOMP": Code(seccomp_redirect),
        "SCRIPTS": Code(script_cases(box.spec)),
        "NET_CHECK": Code(network.launcher_check(box.spec, p)),
        "TERMINAL": Code("true" if enter.terminal_signals(box) else "false"),
        "SIGNALS_RESET": Code(_words(enter.SIGNALS_RESET)),
        **limits.launcher_values(boxmod.held_limits(box)),  # all empty without [limits]
    }
    return template.fill(TEMPLATE, values)


def handover_home(box: boxmod.Box) -> str:
    """The hand-over's DEVBOX_HOME: this store if DEVBOX_HOME chose it, else empty (as unset:
    the store is found as before, and the state dir stays the user's, not `STORE/state`)."""
    return str(box.store.root) if fastpath.devbox_home() is not None else ""


def _in_project_dir(p: ProjectPaths) -> dict[str, str]:
    """What the launcher names as "$P/NAME": inside double quotes, so each NAME must be one that
    quoting leaves as it is."""
    names = {
        "SESSIONS": p.sessions,
        "SUPERVISOR_PID": p.supervisor_pid,
        "START_LOCK": p.start_lock,
        "SUPERVISOR_LOG": p.supervisor_log,
        "STACK_IDS_FILE": p.stack_ids,
        "STACK_FILE": p.stack_file,
        "HOME_DIR": p.home,
    }
    rel = {key: str(path.relative_to(p.root)) for key, path in names.items()}
    if bad := [name for name in rel.values() if q(name) != name]:
        raise ValueError(f"a project dir entry the launcher names needs quoting: {bad[0]!r}")
    return rel


def _stale(box: boxmod.Box, snap: Snapshot) -> list[str]:
    """The tests of which any one true means the launcher is stale (see the module's doc)."""
    p = box.paths
    stale = [f"! [ -f {q(path)} ]" for path in layer_files(box)]
    stale += [f"! [ -d {q(str(d))} ]" for d in (p.run, p.rc, p.upper, p.work, p.merged, p.home)]
    code = set(made_of(*SHAPED_BY))
    # an [env] file that became a symlink is refused by devbox: hand over whatever its mtime (a
    # link to a file written in the same clock tick has the same one)
    env_files = {str(box.spec.project / rel) for rel in box.spec.env_files}
    for i, (path, mtime) in enumerate(snap.items()):
        if mtime is None:
            stale.append(f"[ -e {q(path)} ]")
        elif path in code:  # replaced by an edit or an install: newer than every one was
            stale.append(f'[ {q(path)} -nt "$S/{CODE_STAMP}" ]')
        elif path in env_files:
            stale.append(f'changed {q(path)} "$S/{i}" || [ -h {q(path)} ]')
        else:
            stale.append(f'changed {q(path)} "$S/{i}"')
    if code & snap.keys():
        stale.append(f'! [ -e "$S/{CODE_STAMP}" ]')
    stale.append(f'[ "${{HOME-}}" != {q(os.environ.get("HOME", ""))} ]')
    linger = os.environ.get(sessions.LINGER_ENV, "")
    stale.append(f'[ "${{{sessions.LINGER_ENV}-}}" != {q(linger)} ]')
    if box.tier.level > 1:
        stale.append(f'[ "${{DEVBOX_TIER-}}" != {q(os.environ.get("DEVBOX_TIER", ""))} ]')
    for key in ("SSL_CERT_FILE", "DEVBOX_HOST_CA", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL"):
        stale.append(f'[ "${{{key}-}}" != {q(os.environ.get(key, ""))} ]')
    return stale + share.stale_tests(box)  # [share]: the user's session it derives from


def _cwd_cases(spec: Spec, workdir_in_box: str) -> list[str]:
    """`case $PWD` arms: under the project (as named, or its real path), the same place under
    the box's workdir."""
    workdir = q(workdir_in_box.rstrip("/"))
    cases = []
    project = str(spec.project)
    for root in dict.fromkeys([project, os.path.realpath(project)]):
        r = q(root.rstrip("/"))
        cases.append(f"  {r}|{r}/*) c={workdir}${{PWD#{r}}} ;;")
    return cases


def _entries(box: boxmod.Box) -> tuple[dict[str, str], dict[str, str], enter.Entry]:
    """The box env with no host values and with probe markers, and the session to enter."""
    fd = SECCOMP_FD if seccomp.supported() else None
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
    private.mkdirs(data)
    with fs.flocked(data / ".lock"):
        gen = data / f"{time.time_ns():x}-{os.getpid()}"
        gen.mkdir(mode=private.DIR_MODE)
        code = set(made_of(*SHAPED_BY))
        for i, (path, mtime) in enumerate(snap.items()):
            if mtime is not None and path not in code:
                _stamp(gen / str(i), mtime)
        newest = max((m for path, m in snap.items() if path in code and m is not None), default=0)
        _stamp(gen / CODE_STAMP, newest)
        if seccomp.supported():
            (gen / SECCOMP_FILE).write_bytes(seccomp.filter_bytes(fake_ids=box.tier.seccomp))
        boxmod.sync_rc(box)
        text = render(box, snap, str(gen), python, spec_path)
        tmp = p.root / f".{p.launcher.name}.new"
        tmp.write_text(text)
        tmp.chmod(0o700)  # the user's alone, as everything in the store
        os.replace(tmp, p.launcher)
        for old in data.iterdir():
            if old != gen and old.name != ".lock":
                fs.remove_tree(old)
    projects.write_index(box.spec.project, box.store.root, p.launcher)
    return p.launcher


def _stamp(path: Path, mtime: int) -> None:
    path.touch()
    os.utime(path, ns=(mtime, mtime))


def discard(box: boxmod.Box) -> None:
    """Remove the launcher (when it could not be rewritten, it must not outlive its inputs)."""
    with contextlib.suppress(OSError):
        box.paths.launcher.unlink(missing_ok=True)
    projects.drop_index(box.spec.project, box.store.root)
