"""Pulling an image: `devbox build` of a box whose base is `oci:REF` (skopeo pulls the blobs,
devbox unpacks the layers into its store) against `podman pull` of the same image, each into an
empty store, from a real registry on 127.0.0.1 (TLS, a login: tests/registry.py) started here.
The image is the test suite's `base` (mmdebstrap minbase bookworm, `podman import`ed: one layer,
tests/images.py). As root, and as a created user with a subuid range (rootless podman with a
storage dir of its own). The two commands alternate round by round; medians.

Both read the CA and the login from the home they run with (`~/.config/containers/certs.d`,
`~/.docker/config.json`), so neither gets a flag the other lacks.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.timing import Row, Skip, run
from tests.images import Podman, need_tools, push_base
from tests.integration.rootless import TEST_USER_PREFIX, User, make_user, remove_user, runtime
from tests.registry import Registry, start_registry

USER = f"{TEST_USER_PREFIX}img-{os.getpid()}"
SPEC = '[box]\nname = "b"\nbase = "oci:{ref}"\n'
# kernel overlayfs for both (rootless podman 4.3 would pick vfs here, without fuse-overlayfs;
# the kernel's overlayfs works for it, kernel >= 5.13)
PODMAN = ["--runtime", "runc", "--cgroup-manager", "cgroupfs", "--storage-driver", "overlay"]


def _clear(*paths: Path) -> None:
    for p in paths:
        subprocess.run(["rm", "-rf", "--one-file-system", str(p)], check=False)


def _alternate(fns: dict[str, Callable[[], None]], before: Callable[[], None], runs: int,
               *, each: bool = False) -> dict[str, float | str]:  # fmt: skip
    """Each round: `before()` (untimed: empty stores), then every fn once, timed; `each`:
    `before()` before every fn, not once a round. A fn that fails gives its reason instead of a
    time and is not run again."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    failed: dict[str, str] = {}
    for _ in range(runs):
        if not each:
            before()
        for key, fn in fns.items():
            if key in failed:
                continue
            if each:
                before()
            t = time.perf_counter()
            try:
                fn()
            except Skip as e:
                failed[key] = str(e)
                continue
            times[key].append(time.perf_counter() - t)
    return {k: failed.get(k) or statistics.median(times[k]) for k in fns}


def _row(what: str, cmd: str, got: float | str, runs: int, note: str = "") -> Row:
    if isinstance(got, str):
        return Row("image", what, cmd, None, 0, got)
    return Row("image", what, cmd, got, runs, note)


def _size(reg: Registry) -> str:
    blobs = [p for p in (reg.storage / "docker/registry/v2/blobs").rglob("data") if p.is_file()]
    return f"{sum(p.stat().st_size for p in blobs) / 2**20:.0f} MiB compressed"


def measure(work: Path, runs: int) -> list[Row]:
    """The image rows (root, then rootless); the registry and its image are made here."""
    try:
        need_tools()
    except RuntimeError as e:
        return [_row("pull + unpack an image", "", str(e), 0)]
    reg = start_registry(work / "registry")
    try:
        podman = Podman(reg, work / "podman-build")
        try:
            push_base(podman, work)
        finally:
            podman.close()
            _clear(work / "podman-build")
        ref = reg.ref("test/base:1")
        note = f"one layer, {_size(reg)}"
        rows = root(work, reg, ref, runs, note)
        rows += rootless(work, reg, ref, runs, note)
        return rows
    finally:
        reg.stop()


def _project(d: Path, ref: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "devbox.toml").write_text(SPEC.format(ref=ref))
    (d / "devbox.lock").unlink(missing_ok=True)
    return d


def root(work: Path, reg: Registry, ref: str, runs: int, note: str) -> list[Row]:
    home = work / "home-root"
    reg.trust(home)
    reg.login(home)
    proj = _project(work / "img-root", ref)
    store, pod = work / "img-store", work / "img-podman"
    env = {**os.environ, "HOME": str(home), "DEVBOX_HOME": str(store)}
    env.pop("REGISTRY_AUTH_FILE", None)
    podman = ["podman", "--root", str(pod / "root"), "--runroot", str(pod / "run"), *PODMAN]

    def before() -> None:
        _clear(store, pod)
        (proj / "devbox.lock").unlink(missing_ok=True)

    got = _alternate({
        "devbox": lambda: run([sys.executable, "-m", "devbox", "build"], cwd=proj, env=env),
        "podman": lambda: run([*podman, "pull", "--quiet", ref], env=env),
    }, before, runs)  # fmt: skip
    before()
    return [
        _row("root: devbox build, base = oci:REF (fresh DEVBOX_HOME)", "devbox build",
             got["devbox"], runs, note),
        _row("root: podman pull (empty --root)", "podman --root EMPTY pull REF",
             got["podman"], runs, note),
    ]  # fmt: skip


def rootless(work: Path, reg: Registry, ref: str, runs: int, note: str) -> list[Row]:
    names = ("rootless: devbox build, base = oci:REF", "rootless: podman pull")
    if not shutil.which("newuidmap"):
        return [_row(w, "", "newuidmap is missing (uidmap)", 0) for w in names]
    user = make_user(USER, work, runtime(work), subids=True)
    try:
        return _rootless(user, reg, ref, runs, note, names)
    finally:
        remove_user(USER)


def _rootless(user: User, reg: Registry, ref: str, runs: int, note: str,
              names: tuple[str, str]) -> list[Row]:  # fmt: skip
    owner = (user.uid, user.gid)
    reg.trust(user.home, owner)
    reg.login(user.home, owner)
    # a login session's runtime dir (skopeo and podman want one), short: rootless podman refuses
    # a runroot of over 50 characters
    xdg = Path(tempfile.mkdtemp(prefix="dbx-", dir="/tmp"))
    os.chown(xdg, user.uid, user.gid)
    try:
        return _pulls(user, xdg, ref, runs, note, names)
    finally:
        _clear(xdg)


def _pulls(user: User, xdg: Path, ref: str, runs: int, note: str, names: tuple[str, str]
           ) -> list[Row]:  # fmt: skip
    proj = _project(user.home / "img", ref)
    user.own(user.home)
    store, pod = user.home / "store", user.home / "podman"
    env = user.env({"DEVBOX_HOME": str(store), "XDG_RUNTIME_DIR": str(xdg)})
    drop = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", "--"]
    podman = [*drop, "podman", "--root", str(pod / "root"), "--runroot", str(xdg / "pod"), *PODMAN]

    def before() -> None:
        _clear(store, pod, xdg / "pod")  # as root: files of the user's subordinate ids too
        (proj / "devbox.lock").unlink(missing_ok=True)

    got = _alternate({
        "devbox": lambda: run(user.argv("build"), cwd=proj, env=env),
        "podman": lambda: run([*podman, "pull", "--quiet", ref], cwd=user.home, env=env),
    }, before, runs)  # fmt: skip
    info = [*podman, "info", "--format", "{{.Store.GraphDriverName}}"]
    driver = subprocess.run(info, env=env, cwd=user.home, capture_output=True, text=True)
    before()
    return [
        _row(names[0] + " (fresh DEVBOX_HOME)", "devbox build", got["devbox"], runs, note),
        _row(names[1] + " (empty --root)", "podman --root EMPTY pull REF", got["podman"], runs,
             f"{note}; storage driver: {driver.stdout.strip() or '?'}"),
    ]  # fmt: skip


def main() -> None:
    """`sudo .venv/bin/python -m bench.images [RUNS]`: these rows alone, as markdown lines."""
    from bench.report import fmt

    if os.geteuid() != 0:
        raise SystemExit("run as root (sudo): it creates a throwaway user")
    work = Path(tempfile.mkdtemp(prefix="devbox-bench-", dir="/tmp"))
    work.chmod(0o755)
    try:
        rows = measure(work, int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    finally:
        _clear(work)
    for r in rows:
        print(f"| {r.what} | `{r.command}` | {fmt(r)} |  | {r.note} |")


if __name__ == "__main__":
    main()
