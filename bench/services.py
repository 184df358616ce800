"""Services up: the time from the command to both postgres and redis accepting connections.

- devbox: `devbox up` of a project with `[services.db]` (Debian's postgresql in its own box,
  `box = "services/db"`) and `[services.cache]` (redis-server in the project's box), both with
  `ready = "tcp:PORT"`; `devbox up` returns once both are ready.
- podman-compose: `podman-compose up -d` (Debian's, 1.0.3) of the same servers from images
  built here (bench/compose.py); it returns once the containers are started.
- a podman pod on the host's network, as the devbox project runs them: `podman pod create`,
  then `podman run -d --pod` of each (what a compose tool with host networking would run).

Each timed run is the command, then the same poll of the two TCP ports from here until both
accept a connection. Untimed: the boxes and images are built beforehand (and kept, in the bench's
cache dir, `.bench-cache/services` or $DEVBOX_BENCH_CACHE), the data dirs are initialised by an
earlier start and stop of each, and every run is followed by a full stop (`devbox down`,
`podman-compose down`, `podman pod rm`) and a check that both ports are closed. The three
alternate round by round; medians. As root.

    sudo .venv/bin/python -m bench.services [--runs 5] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.compose import FILES, Peer
from bench.images import _alternate, _clear
from bench.timing import Row, Skip
from devbox.template import fill

ROOT = Path(__file__).resolve().parents[1]
DEVBOX = [sys.executable, "-m", "devbox"]
NAMES = {
    "devbox": ("services up: devbox up (postgres in its own box, redis)", "devbox up"),
    "compose": ("services up: podman-compose up -d (bridge network, ports published)",
                "podman-compose up -d"),
    "pod": ("services up: a podman pod on the host's network",
            "podman pod create; podman run -d --pod (x2)"),
}  # fmt: skip


def cache_dir() -> Path:
    return Path(os.environ.get("DEVBOX_BENCH_CACHE") or ROOT / ".bench-cache" / "services")


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_ports(ports: list[int], timeout: float = 60) -> None:
    """Until every port accepts a TCP connection (polled every 5 ms): the timed poll."""
    waiting, end = list(ports), time.monotonic() + timeout
    while waiting:
        waiting = [p for p in waiting if not _accepts(p)]
        if waiting and time.monotonic() > end:
            raise Skip(f"127.0.0.1:{waiting[0]} did not accept a connection in {timeout:.0f} s")
        if waiting:
            time.sleep(0.005)


def wait_closed(ports: list[int], timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while any(_accepts(p) for p in ports):
        if time.monotonic() > end:
            raise Skip(f"a server still listens on one of {ports} after the stop")
        time.sleep(0.05)


def _write(path: Path, text: str) -> None:
    """Write only a change: devbox notices a spec's mtime."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def project(cache: Path, ports: dict[str, int]) -> Path:
    """The devbox project (bench/services-project) in the cache, with these ports."""
    proj = cache / "proj"
    values = {"DB_PORT": str(ports["db"]), "REDIS_PORT": str(ports["cache"])}
    _write(proj / "devbox.toml", fill((FILES / "devbox.toml").read_text(), values, str))
    for rel in ("services/db/devbox.toml", "services/db/pg-start.sh"):
        _write(proj / rel, (FILES / rel).read_text())
    return proj


class Devbox:
    def __init__(self, proj: Path, store: Path) -> None:
        self.proj = proj
        self.env = {**os.environ, "DEVBOX_HOME": str(store)}

    def __call__(self, *args: str, cwd: Path | None = None) -> None:
        r = subprocess.run([*DEVBOX, *args], cwd=cwd or self.proj, env=self.env, timeout=900,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)  # fmt: skip
        if r.returncode != 0:
            lines = r.stderr.strip().splitlines()
            error = next((x for x in lines if x.startswith("devbox: error")), lines[-1:] or [""])
            logged = [x[4:].strip() for x in lines if x.startswith("  | ")][-1:]
            why = " ".join([f"`devbox {' '.join(args)}` failed:", str(error), *logged])
            raise Skip(why.replace(str(self.proj), "PROJECT"))


def measure(work: Path, runs: int) -> list[Row]:
    """The services rows; everything slow is made (once) in the cache dir. `work` is unused:
    the cache outlives a run."""
    del work
    try:
        return _measure(cache_dir(), runs)
    except Skip as e:
        return [Row("services", what, cmd, None, 0, str(e)) for what, cmd in NAMES.values()]


def _measure(cache: Path, runs: int) -> list[Row]:
    if os.geteuid() != 0:
        raise Skip("not root: the podman side runs as root")
    peer = Peer.at(cache)
    p = dict(zip(("db", "cache"), free_ports(2)))
    ports = list(p.values())
    devbox = Devbox(project(cache, p), cache / "store")
    data = cache / "data"
    peer.remove_all()
    _clear(data)
    base = peer.base()
    images = {name: peer.image(name, base) for name in ("db", "cache")}
    peer.prune([base, *images.values()])
    compose = peer.compose_file(images, p, data)
    fns: dict[str, Callable[[], None]] = {}
    stops: dict[str, Callable[[], None]] = {}
    failed: dict[str, str] = {}

    def prepare(key: str, first: Callable[[], None], start: Callable[[], None],
                stop: Callable[[], None]) -> None:  # fmt: skip
        """`first`, untimed, then `stop`: the data dirs initialised, the first-run work done;
        then `start` is a timed run."""
        try:
            first()
            wait_ports(ports, timeout=120)
        except Skip as e:
            failed[key] = str(e)
        finally:
            try:
                stop()
                wait_closed(ports)
            except Skip as e:
                failed.setdefault(key, str(e))
        if key not in failed:
            fns[key], stops[key] = timed(start), stop

    def timed(start: Callable[[], None]) -> Callable[[], None]:
        def fn() -> None:
            start()
            wait_ports(ports)

        return fn

    def devbox_first() -> None:
        devbox("build", cwd=devbox.proj / "services" / "db")
        devbox("build")
        devbox("down", "--volumes")
        devbox("up")

    prepare("devbox", devbox_first, lambda: devbox("up"), lambda: devbox("down"))

    def compose_up() -> None:
        peer.compose(compose, "up", "-d")

    def pod_up() -> None:
        peer.pod_up(images, p, data)

    prepare("compose", compose_up, compose_up, lambda: peer.compose(compose, "down"))
    prepare("pod", pod_up, pod_up, peer.pod_down)
    pending: list[str] = []

    def before() -> None:
        """Untimed: stop what the previous run started; both ports closed."""
        while pending:
            stops[pending.pop()]()
        wait_closed(ports)

    def started(key: str) -> Callable[[], None]:
        def fn() -> None:
            pending.append(key)
            fns[key]()

        return fn

    try:
        got = _alternate({k: started(k) for k in fns}, before, runs, each=True)
    finally:
        before_safe(before)
        peer.remove_all()
    return rows(got, failed, runs)


def before_safe(before: Callable[[], None]) -> None:
    try:
        before()
    except Skip as e:
        print(f"bench.services: cleaning up: {e}", file=sys.stderr)


def rows(got: dict[str, float | str], failed: dict[str, str], runs: int) -> list[Row]:
    out = []
    for key, (what, cmd) in NAMES.items():
        value = got.get(key, failed.get(key, "not run"))
        if isinstance(value, str):
            out.append(Row("services", what, cmd, None, 0, value))
        else:
            out.append(Row("services", what, cmd, value, runs))
    mine = got.get("devbox")
    if isinstance(mine, float):
        peers = {"compose": "podman-compose", "pod": "the pod"}
        ratios = [f"{mine / v:.2f}x {peers[k]}" for k, v in got.items()
                  if k in peers and isinstance(v, float)]  # fmt: skip
        out[0].note = ", ".join(ratios)
    return out


def main() -> None:
    from bench.report import fmt, splice

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each (median)")
    ap.add_argument("--write", type=Path, help="put the rows into this benchmarks page")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (sudo)")
    if not shutil.which("podman-compose"):
        raise SystemExit("podman-compose is missing: bash scripts/setup.sh installs it (as root)")
    got = measure(Path("/tmp"), args.runs)
    for r in got:
        print(f"| {r.what} | `{r.command}` | {fmt(r)} |  | {r.note} |")
    if args.write:
        command = "sudo .venv/bin/python -m bench.services " + " ".join(sys.argv[1:])
        args.write.write_text(splice(args.write.read_text(), got, "services", command.strip()))
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
