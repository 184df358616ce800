"""The anchors: distrobox enter, podman exec and podman run into an equivalent box (the same
layers, imported as an image), as an unprivileged user, with what podman's defaults need and a
machine such as a small VM may lack spelled out: runc, cgroupfs, explicit ulimits, host network
(CONTAINERS_CONF below)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bench.timing import Row, Skip, median, run
from tests.integration.rootless import User, make_user, remove_user, runtime

USER = "dbxbench"
IMAGE = "localhost/devbox-bench:base"
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1000:1000","nproc=1000:1000"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""
PACKAGES = ["podman", "runc", "distrobox", "uidmap", "fuse-overlayfs", "slirp4netns"]


def install() -> str | None:
    """apt-get install what is missing; the reason it failed, or None."""
    missing = [p for p in PACKAGES if not _installed(p)]
    if not missing:
        return None
    r = subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )  # fmt: skip
    if r.returncode != 0:
        return f"apt-get install {' '.join(missing)} failed: {r.stderr.strip()[-200:]}"
    return None


def _installed(pkg: str) -> bool:
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", pkg], capture_output=True, text=True)
    return r.stdout.endswith("installed")


def as_user(user: User, *argv: str) -> list[str]:
    return ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", "--", *argv]


def user_env(user: User) -> dict[str, str]:
    runtime_dir = user.home / ".run"
    return {
        **user.env(),
        "XDG_RUNTIME_DIR": str(runtime_dir),
        "XDG_CONFIG_HOME": str(user.home / ".config"),
    }


def measure(work: Path, rootfs: Path, runs: int) -> list[Row]:
    """`rootfs`: the box's merged root, to import as the equivalent image."""
    why = install() if os.geteuid() == 0 else "not root: cannot install podman and distrobox"
    skipped = [
        ("distrobox enter, box running", "distrobox enter dbx -- true"),
        ("podman exec, container running", "podman exec dbx true"),
        ("podman run (a new container each time)", f"podman run --rm --network host {IMAGE} true"),
    ]
    if why:
        return [Row("anchor", w, c, None, 0, why) for w, c in skipped]
    user = make_user(USER, work, runtime(work), subids=True)
    try:
        return _measure(user, work, rootfs, runs, skipped)
    finally:
        subprocess.run(as_user(user, "podman", "rm", "-af", "-t", "0"), env=user_env(user),
                       capture_output=True, check=False)  # fmt: skip
        remove_user(USER)


def root_podman(work: Path, tar: Path, runs: int) -> Row:
    """podman run as root (kernel overlayfs storage), in a storage dir of its own."""
    what = "podman run as root (a new container each time)"
    cmd = f"podman run --rm --network host {IMAGE} true"
    base = [
        "podman", "--root", str(work / "podman-root"), "--runroot", str(work / "podman-run"),
        "--runtime", "runc", "--cgroup-manager", "cgroupfs",
    ]  # fmt: skip
    try:
        run([*base, "import", str(tar), IMAGE])
        argv = [*base, "run", "--rm", "--network", "host", "--ulimit", "nproc=1000:1000",
                "--ulimit", "nofile=1000:1000", IMAGE, "true"]  # fmt: skip
        return Row("anchor", what, cmd, median(lambda: run(argv), runs), runs)
    except Skip as e:
        return Row("anchor", what, cmd, None, 0, str(e))
    finally:
        subprocess.run([*base, "rm", "-af"], capture_output=True, check=False)
        subprocess.run([*base, "rmi", "-af"], capture_output=True, check=False)


def _measure(
    user: User, work: Path, rootfs: Path, runs: int, names: list[tuple[str, str]]
) -> list[Row]:
    env = user_env(user)
    conf = user.home / ".config" / "containers" / "containers.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(CONTAINERS_CONF)
    # the kernel's overlayfs: without it rootless podman 4.3 falls back to vfs here (/dev/fuse is
    # root's, so no fuse-overlayfs) and copies the whole image for each container
    (conf.parent / "storage.conf").write_text('[storage]\ndriver = "overlay"\n')
    (user.home / ".run").mkdir(mode=0o700, exist_ok=True)
    user.own(user.home)
    tar = work / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
    os.chmod(tar, 0o644)
    rows: list[Row] = []

    def timed(*argv: str) -> float:
        return median(lambda: run(as_user(user, *argv), cwd=user.home, env=env), runs)

    try:
        run(as_user(user, "podman", "import", str(tar), IMAGE), cwd=user.home, env=env)
    except Skip as e:
        return [Row("anchor", w, c, None, 0, f"podman import failed: {e}") for w, c in names]
    try:
        if not shutil.which("distrobox"):
            raise Skip("distrobox is not installed")
        run(as_user(user, "distrobox", "create", "--yes", "--name", "dbx", "--image", IMAGE,
                    "--no-entry"), cwd=user.home, env=env)  # fmt: skip
        # the first enter sets the container up (it may install packages): not measured
        run(as_user(user, "distrobox", "enter", "dbx", "--", "true"), cwd=user.home, env=env,
            timeout=900)  # fmt: skip
        rows.append(
            Row("anchor", *names[0], timed("distrobox", "enter", "dbx", "--", "true"), runs)
        )
        rows.append(Row("anchor", *names[1], timed("podman", "exec", "dbx", "true"), runs))
    except Skip as e:
        rows += [Row("anchor", w, c, None, 0, str(e)) for w, c in names[:2]]
    try:
        rows.append(
            Row("anchor", *names[2],
                timed("podman", "run", "--rm", "--network", "host", IMAGE, "true"), runs)
        )  # fmt: skip
    except Skip as e:
        rows.append(Row("anchor", *names[2], None, 0, str(e)))
    driver = subprocess.run(
        as_user(user, "podman", "info", "--format", "{{.Store.GraphDriverName}}"),
        env=env, cwd=user.home, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    if driver:
        rows[-1].note = (rows[-1].note + f" rootless storage driver: {driver}").strip()
    rows.append(root_podman(work, tar, runs))
    return rows
