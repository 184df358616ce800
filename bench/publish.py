"""Images out: `devbox export` of a built box against `podman commit` + `podman save` of an
equivalent container (one made from the same image), and `devbox push` against `podman push` of
that image, each to a registry of its own on 127.0.0.1 (TLS, a login: tests/registry.py) started
empty for that one push, so no push mounts blobs an earlier one sent. As root. The box is the
bundled example's (bookworm, libxml2-utils, a setup step). Each export starts from no packed
layers (the packing is what is measured); the commands alternate round by round; medians.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.images import PODMAN, _alternate, _clear
from bench.timing import Row, run
from tests.images import need_tools
from tests.registry import Registry, start_registry

SPEC = """\
[box]
name = "bench-export"
base = "debian:bookworm"

[packages]
apt = ["libxml2-utils"]

[setup]
run = ["xmllint --version 2>&1 | head -n1 > /etc/xmllint-version"]
"""


def _row(what: str, cmd: str, got: float | str, runs: int, note: str = "") -> Row:
    if isinstance(got, str):
        return Row("publish", what, cmd, None, 0, got)
    return Row("publish", what, cmd, got, runs, note)


def measure(work: Path, runs: int) -> list[Row]:
    """The publish rows; the registry and the box are made here."""
    try:
        need_tools()
    except RuntimeError as e:
        return [_row("export and push a box", "", str(e), 0)]
    reg = start_registry(work / "pub-registry")
    try:
        return _measure(work, reg, runs)
    finally:
        reg.stop()
        _clear(work / "pub-podman", work / "pub-store")


def _measure(work: Path, reg: Registry, runs: int) -> list[Row]:
    home = work / "pub-home"
    reg.trust(home)
    reg.login(home)
    proj = work / "pub-proj"
    proj.mkdir(parents=True, exist_ok=True)
    (proj / "devbox.toml").write_text(SPEC)
    store = work / "pub-store"
    env = {**os.environ, "HOME": str(home), "DEVBOX_HOME": str(store)}
    env.pop("REGISTRY_AUTH_FILE", None)
    devbox = [sys.executable, "-m", "devbox"]
    run([*devbox, "build"], cwd=proj, env=env)
    image = work / "pub-image"
    run([*devbox, "-q", "export", str(image)], cwd=proj, env=env)
    pod = work / "pub-podman"
    podman = ["podman", "--root", str(pod / "root"), "--runroot", str(pod / "run"), *PODMAN]
    # relative: podman names the image after the path, and a temp dir's name may not be a name
    run([*podman, "pull", "-q", f"oci:{image.name}"], cwd=image.parent, env=env)
    run([*podman, "tag", _image_id(podman, env), "localhost/bench-export:1"], env=env)
    run([*podman, "create", "--name", "bench-export", "localhost/bench-export:1"], env=env)
    rounds = {"n": 0}

    def before() -> None:
        rounds["n"] += 1
        shutil.rmtree(store / "oci/packed", ignore_errors=True)
        shutil.rmtree(store / "oci/blobs", ignore_errors=True)
        for p in (work / "pub-out.tar", work / "pub-save.tar"):
            p.unlink(missing_ok=True)
        shutil.rmtree(work / "pub-out", ignore_errors=True)
        run([*podman, "rmi", "-i", "localhost/bench-commit:1"], env=env)

    def devbox_export() -> None:
        run([*devbox, "-q", "export", str(work / "pub-out")], cwd=proj, env=env)

    def podman_export() -> None:
        run([*podman, "commit", "-q", "bench-export", "localhost/bench-commit:1"], env=env)
        run([*podman, "save", "-q", "--format", "oci-archive", "-o", str(work / "pub-save.tar"),
             "localhost/bench-commit:1"], env=env)  # fmt: skip

    def pushes(tool: str) -> float:
        """One timed push to a registry of its own, started for it (untimed): neither tool finds
        the other's blobs there, nor its own from an earlier round, to mount instead of send."""
        rounds["n"] += 1
        own = start_registry(work / f"pub-registry-{rounds['n']}")
        try:
            own.trust(home)
            own.login(home)
            ref = own.ref(f"bench/{tool}:1")
            if tool == "devbox":
                argv, cwd = [*devbox, "-q", "push", ref], proj
            else:
                argv, cwd = (
                    [*podman, "push", "-q", "localhost/bench-export:1", f"docker://{ref}"],
                    None,
                )
            t = time.perf_counter()
            run(argv, cwd=cwd, env=env)
            return time.perf_counter() - t
        finally:
            own.stop()

    exports: dict[str, Callable[[], None]] = {"devbox": devbox_export, "podman": podman_export}
    got = _alternate(exports, before, runs)
    times: dict[str, list[float]] = {"devbox": [], "podman": []}
    for _ in range(runs):
        for tool in times:
            times[tool].append(pushes(tool))
    pushed: dict[str, float | str] = {k: statistics.median(v) for k, v in times.items()}
    note = "bookworm + libxml2-utils + setup, 4 layers"
    return [
        _row("root: devbox export (OCI layout, nothing packed before)", "devbox export DIR",
             got["devbox"], runs, note),
        _row("root: podman commit + podman save (oci-archive)",
             "podman commit C I; podman save -o F I", got["podman"], runs, note),
        _row("root: devbox push (an empty registry)", "devbox push REF", pushed["devbox"],
             runs, note),
        _row("root: podman push of the exported image (an empty registry)",
             "podman push I docker://REF", pushed["podman"], runs, note),
    ]  # fmt: skip


def _image_id(podman: list[str], env: dict[str, str]) -> str:
    import subprocess

    out = subprocess.run([*podman, "images", "-q", "--no-trunc"], env=env, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return out.split()[0]
