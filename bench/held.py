"""The first shim call after `cd` into a project and a while idle, against bare bwrap 0.11.

An honest simulation of a person: one real bash with the hook (`devbox hook bash`), the linger
short (DEVBOX_LINGER=1), and per round: `cd` into an allowed project (the hook runs, as at a
prompt), 3 s idle (three lingers), then one shim call timed in that bash with $EPOCHREALTIME,
and bare bwrap 0.11 entering the same layers timed the same way in the same round (each goes
first in every other round); `cd` out, and wait (untimed) for the box to go. A shell that has
the project active holds its box up, so the shim finds it up: each round also checks that no
supervisor was started for the call.

    .venv/bin/python -m bench.held [ROUNDS]   (builds a bookworm box in a scratch store)
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import entering
from bench.timing import Row, Skip, run

IDLE = 3.0  # seconds idle after cd: three times the linger
WHAT = "a shim, first call after cd and 3 s idle (DEVBOX_LINGER=1), from a hook-activated bash"
PEER = "the same rounds' bare bwrap 0.11 entering the same layers (after cd and 3 s idle)"


def held_project(work: Path, project: Path) -> Path:
    """`project`'s box (its spec and lock: the same layers) exposing `true`, allowed."""
    p = work / "bench-held"
    p.mkdir(exist_ok=True)
    spec = (project / "devbox.toml").read_text()
    (p / "devbox.toml").write_text(spec + '\n[shell]\nexpose = ["true"]\n')
    lock = project / "devbox.lock"
    if lock.exists():
        (p / "devbox.lock").write_bytes(lock.read_bytes())
    return p


class Bash:
    """A bash with the hook, fed lines on stdin; `say` runs one and returns its last line."""

    def __init__(self, env: dict[str, str], hook: str) -> None:
        self.proc = subprocess.Popen(
            ["bash", "--norc", "--noprofile"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env, text=True, cwd="/",
        )  # fmt: skip
        self.say(f'eval "$({hook})"')

    def say(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{line}\necho __done__\n")
        self.proc.stdin.flush()
        last = ""
        while (out := self.proc.stdout.readline()) and out.strip() != "__done__":
            last = out.strip()
        if not out:
            raise Skip(f"the bench's bash ended at `{line[:60]}`")
        return last

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def measure(work: Path, store: Path, project: Path, rounds: int) -> list[Row]:
    from devbox.sandbox import sessions
    from devbox.store.paths import ProjectPaths, project_id

    env = {**os.environ, "DEVBOX_HOME": str(store), "DEVBOX_LINGER": "1"}
    for key in ("DEVBOX_LAUNCHER_SPEC", "DEVBOX_HOLD", "DEVBOX_ACTIVE"):
        env.pop(key, None)
    devbox = entering.devbox_cmd()
    p = held_project(work, project)
    run([*devbox, "allow"], cwd=p, env=env)
    run([*devbox, "run", "--", "true"], cwd=p, env=env)  # writes its launcher for this env
    paths = ProjectPaths(store / "projects" / project_id(p))
    b11 = shlex.join(entering.bare011_argv(entering.bwrap011(work), entering.stack(store, p)))
    sh = Bash(env, shlex.join([*devbox, "hook", "bash"]))
    shim: list[float] = []
    peer: list[float] = []
    started = 0
    try:
        for _ in range(rounds + 1):  # the first round warms up
            entering.wait_down(store, p)
            sh.say(f"cd {shlex.quote(str(p))}; _devbox_hook")
            time.sleep(IDLE)
            before = sessions.supervisor_pid(paths)
            calls = ['"${PATH%%:*}/true"', b11][:: 1 if len(shim) % 2 else -1]  # either first
            out = sh.say(
                f"t0=$EPOCHREALTIME; {calls[0]}; t1=$EPOCHREALTIME; "
                f'{calls[1]}; t2=$EPOCHREALTIME; echo "$t0 $t1 $t2"'
            )
            t0, t1, t2 = map(float, out.split())
            started += before is None or sessions.supervisor_pid(paths) != before
            first, second = t1 - t0, t2 - t1
            shim.append(first if calls[0] != b11 else second)
            peer.append(second if calls[0] != b11 else first)
            sh.say("cd /; _devbox_hook")
    finally:
        sh.close()
        entering.wait_down(store, p)
    shim, peer = shim[1:], peer[1:]
    note = "" if not started else f"{started} of {rounds + 1} calls found the box down"
    return [
        Row("enter", WHAT, "cd PROJECT; sleep 3; SHIM", statistics.median(shim), rounds, note),
        Row("enter", PEER, "bwrap --overlay-src L... --tmp-overlay / ... true",
            statistics.median(peer), rounds),
    ]  # fmt: skip


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    work = Path(tempfile.mkdtemp(prefix="devbox-bench-held-", dir="/tmp"))
    try:
        store, project = work / "store", work / "project"
        project.mkdir()
        (project / "devbox.toml").write_text('[box]\nname = "held"\nbase = "debian:bookworm"\n')
        env = {**os.environ, "DEVBOX_HOME": str(store)}
        run([*entering.devbox_cmd(), "build"], cwd=project, env=env)
        for row in measure(work, store, project, rounds):
            ms = "-" if row.seconds is None else f"{row.seconds * 1000:.1f} ms"
            print(f"{row.what}: {ms} ({row.runs} runs) {row.note}")
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(work)], check=False)


if __name__ == "__main__":
    main()
