"""The team layer cache: `devbox build --locked` of a box (bookworm + apt jq) in a fresh store
from the team cache against the same from the Debian archive; and `devbox pull` of a pushed box
against `podman pull` of the same image. As root, a registry on 127.0.0.1 started here
(tests/registry.py). Each pair alternates round by round; medians, and their ratio.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.images import PODMAN, _alternate, _clear
from bench.timing import Row, Skip, run
from tests.registry import start_registry

SPEC = '[box]\nname = "c"\nbase = "debian:bookworm"\n[packages]\napt = ["jq"]\n'


def _row(what: str, cmd: str, got: float | str, runs: int, note: str = "") -> Row:
    if isinstance(got, str):
        return Row("cache", what, cmd, None, 0, got)
    return Row("cache", what, cmd, got, runs, note)


def _ratio(a: float | str, b: float | str) -> str:
    return f"{a / b:.2f}x of the other" if isinstance(a, float) and isinstance(b, float) else ""


def _faster(a: float | str, b: float | str) -> str:
    return (
        f"{b / a:.1f}x faster than the other"
        if isinstance(a, float) and isinstance(b, float)
        else ""
    )


def measure(work: Path, runs: int) -> list[Row]:
    reg = start_registry(work / "cache-registry")
    try:
        home = work / "home-cache"
        reg.trust(home)
        reg.login(home)
        proj = work / "cache-proj"
        proj.mkdir()
        (proj / "devbox.toml").write_text(SPEC + f'[cache]\nregistry = "{reg.ref("team/c")}"\n')
        env = {**os.environ, "HOME": str(home), "DEVBOX_HOME": str(work / "cache-a")}
        run([sys.executable, "-m", "devbox", "build", "--push-cache"], cwd=proj, env=env)
        store = work / "cache-b"
        fresh = {**env, "DEVBOX_HOME": str(store)}
        got = _alternate(
            {
                "cache": lambda: run(
                    [sys.executable, "-m", "devbox", "build", "--locked"], cwd=proj, env=fresh
                ),
                "archive": lambda: run(
                    [sys.executable, "-m", "devbox", "build", "--locked"],
                    cwd=proj,
                    env={**fresh, "DEVBOX_CACHE": ""},
                ),
            },
            lambda: _clear(store),
            runs,
            each=True,
        )  # each=True: a store emptied before each build, so neither finds the other's layers
        rows = [
            _row("devbox build --locked from the team cache (fresh store)", "devbox build --locked",
                 got["cache"], runs, _faster(got["cache"], got["archive"])),
            _row("devbox build --locked from the archive (fresh store)",
                 "DEVBOX_CACHE= devbox build --locked", got["archive"], runs),
        ]  # fmt: skip
        return rows + _pulls(work, reg.ref("team/box:1"), proj, env, store, runs)
    finally:
        _clear(store)
        reg.stop()


def _pulls(work: Path, ref: str, proj: Path, env: dict[str, str], store: Path, runs: int
           ) -> list[Row]:  # fmt: skip
    push = subprocess.run([sys.executable, "-m", "devbox", "push", ref], cwd=proj, env=env,
                          capture_output=True, text=True)  # fmt: skip
    if push.returncode != 0:
        why = (push.stderr.strip().splitlines() or ["devbox push failed"])[0]
        return [_row("devbox pull vs podman pull", "devbox pull REF", why, 0)]
    pod = work / "cache-podman"
    podman = ["podman", "--root", str(pod / "root"), "--runroot", str(pod / "run"), *PODMAN]
    fresh = {**env, "DEVBOX_HOME": str(store)}
    got = _alternate({
        "devbox": lambda: run([sys.executable, "-m", "devbox", "pull", ref], cwd=proj, env=fresh),
        "podman": lambda: run([*podman, "pull", "--quiet", ref], env=env),
    }, lambda: _clear(store, pod), runs)  # fmt: skip
    _clear(pod)
    return [
        _row("devbox pull of a pushed box (fresh store)", "devbox pull REF", got["devbox"], runs,
             _ratio(got["devbox"], got["podman"])),
        _row("podman pull of the same image (empty --root)", "podman pull REF", got["podman"],
             runs),
    ]  # fmt: skip


def main() -> None:
    """`sudo .venv/bin/python -m bench.cache [RUNS]`: these rows alone, as markdown lines."""
    from bench.report import fmt

    if os.geteuid() != 0:
        raise SystemExit("run as root (sudo)")
    work = Path(tempfile.mkdtemp(prefix="devbox-bench-", dir="/tmp"))
    try:
        rows = measure(work, int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    except Skip as e:
        rows = [_row("team cache", "", str(e), 0)]
    finally:
        _clear(work)
    for r in rows:
        print(f"| {r.what} | `{r.command}` | {fmt(r)} |  | {r.note} |")


if __name__ == "__main__":
    main()
