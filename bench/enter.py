"""How long entering a box takes, as root (tier 1) and as unprivileged users (tiers 2 and 3).

Run as root from the repository root (it creates two throwaway users):

    .venv/bin/python -m bench.enter [--runs N]

Writes docs/benchmarks-tiers.md. Every figure is the median of N runs of the real command.
The main suite, side by side with bare bwrap, direnv, mmdebstrap, podman and distrobox, is
`python -m bench.run` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from devbox import seccomp
from tests.integration.rootless import User, make_user, remove_user, runtime, scratch

ROOT = Path(__file__).resolve().parents[1]
SPEC = '[box]\nname = "bench"\nbase = "debian:bookworm"\n'


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm caches
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    fds: tuple[int, ...] = ()
    if "--seccomp" in argv:  # tier 3: devbox hands bwrap its filter on an fd; so do we
        fd = seccomp.memfd()
        argv = list(argv)
        argv[argv.index("--seccomp") + 1] = str(fd)
        fds = (fd,)
    try:
        r = subprocess.run(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, pass_fds=fds
        )
    finally:
        for fd in fds:
            os.close(fd)
    if r.returncode != 0:
        raise SystemExit(f"{argv} failed: {r.stderr.decode()}")


def measure(label: str, user: User | None, project: Path, runs: int, py: str) -> dict[str, object]:
    env = user.env() if user else {**os.environ, "DEVBOX_HOME": str(project.parent / "store")}
    prefix = user.argv()[:-3] if user else []  # setpriv ... (without "python -m devbox")
    python = user.python if user else py
    devbox = [*prefix, python, "-m", "devbox"]
    run([*devbox, "build"], project, env)
    row: dict[str, object] = {"who": label}
    row["python -c pass"] = median_ms(
        lambda: run([*prefix, python, "-c", "pass"], project, env), runs
    )
    row["devbox --version"] = median_ms(lambda: run([*devbox, "--version"], project, env), runs)
    row["devbox run -- true (box down)"] = median_ms(
        lambda: run([*devbox, "run", "--", "true"], project, env), runs
    )
    holder = subprocess.Popen(
        [*devbox, "run", "--", "sleep", "600"], cwd=project, env=env, stdin=subprocess.DEVNULL
    )
    try:
        time.sleep(1.5)
        row["devbox run -- true (box up)"] = median_ms(
            lambda: run([*devbox, "run", "--", "true"], project, env), runs
        )
        out = subprocess.run(
            [*devbox, "--verbose", "run", "--", "true"], cwd=project, env=env,
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        line = next(x for x in out.stderr.splitlines() if x.startswith("devbox: ["))
        sandbox_argv = json.loads(line[len("devbox: ") :])
        row["sandbox only: nsenter + bwrap + true"] = median_ms(
            lambda: run([*prefix, *sandbox_argv], project, env), runs
        )
    finally:
        holder.terminate()
        holder.wait()
    return row


def write(rows: list[dict[str, object]], runs: int) -> Path:
    cols = [k for k in rows[0] if k != "who"]
    bwrap = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout.split()
    lines = [
        "# Entering a box in each privilege tier",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.node()} ({platform.machine()}, "
        f"{os.cpu_count()} cores, kernel {platform.release()}, bwrap "
        f"{bwrap[-1] if bwrap else '?'}"
        f"), medians of {runs} runs, milliseconds.",
        "Regenerate: `sudo .venv/bin/python -m bench.enter` (from the repository root).",
        "",
        "## Entering a box, per privilege tier",
        "",
        "| | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for r in rows:
        lines.append(f"| {r['who']} | " + " | ".join(f"{float(r[c]):.1f}" for c in cols) + " |")  # type: ignore[arg-type]
    lines += [
        "",
        "- *box down*: the run starts the box's supervisor (mounts the overlay) and tears it "
        "down after; *box up*: another session holds the box, so the run only joins it.",
        "- *sandbox only*: the exact argv devbox execs (`nsenter` into the box's namespaces, then "
        "`bwrap`), with the box up: what entering costs beyond Python.",
        "- The rest of `devbox run` is Python: start-up, devbox's own imports, reading the spec "
        "and planning. `devbox --version` goes through the typer CLI (~0.1 s of imports); `run` "
        "and `shell` skip it; a plain `devbox run -- CMD` execs the project's launcher after "
        "its first run, so *box up* and *box down* measure Python start-up plus the launcher.",
        "- The root row runs the project venv's interpreter; the users' rows run the system "
        "`python3` with the same packages (the venv's interpreter may not be readable by other "
        "users), so compare columns within a row rather than rows.",
        "",
    ]
    out = ROOT / "docs" / "benchmarks-tiers.md"
    out.write_text("\n".join(lines))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates two unprivileged users")
    base = scratch()
    names = {2: "dbxb-sub", 3: "dbxb-nosub"}
    rows = []
    try:
        rt = runtime(base)
        for label, tier in (
            ("root (tier 1)", 1),
            ("user with subuids (tier 2)", 2),
            ("user without (tier 3)", 3),
        ):
            user = make_user(names[tier], base, rt, subids=tier == 2) if tier > 1 else None
            project = base / f"project-{tier}" / "bench project"
            project.mkdir(parents=True)
            (project / "devbox.toml").write_text(SPEC)
            if user:
                user.own(project.parent)
            rows.append(measure(label, user, project, args.runs, sys.executable))
            print(rows[-1], flush=True)
    finally:
        for name in names.values():
            remove_user(name)
        subprocess.run(["rm", "-rf", "--one-file-system", str(base)], check=False)
    print(f"wrote {write(rows, args.runs)}")


if __name__ == "__main__":
    main()
