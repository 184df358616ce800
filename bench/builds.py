"""Build figures: a cold build against `mmdebstrap --include` of the same packages, an
incremental build after adding one package, and the store growth of a second project.

    sudo .venv/bin/python -m bench.builds [--runs 3]

prints these rows alone (as bench.run writes them, with the cold build's acceptance ratio)."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.timing import Row, Skip, du_bytes, run, timed

PACKAGES = ["jq", "libxml2-utils"]  # the cold build: bookworm + two packages
ADDED = "tree"  # the incremental build adds this one
SECOND = "bc"  # a second project on the same base, with one small package
SPEC = '[box]\nname = "{name}"\nbase = "debian:bookworm"\n[packages]\napt = [{pkgs}]\n'


def spec(name: str, packages: list[str]) -> str:
    return SPEC.format(name=name, pkgs=", ".join(f'"{p}"' for p in packages))


def devbox(*args: str) -> list[str]:
    return [sys.executable, "-m", "devbox", *args]


def env_for(store: Path) -> dict[str, str]:
    return {**os.environ, "DEVBOX_HOME": str(store)}


def project(work: Path, name: str, packages: list[str]) -> Path:
    p = work / name
    p.mkdir(parents=True, exist_ok=True)
    (p / "devbox.toml").write_text(spec(name, packages))
    (p / "devbox.lock").unlink(missing_ok=True)
    return p


def remove(path: Path) -> None:
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)


def measure(work: Path, runs: int) -> tuple[list[Row], Path, Path]:
    """The build rows; returns them with the store and project of the last cold build (with
    ADDED in it), for the entering benchmarks. The cold build and mmdebstrap alternate, round
    after round, so that a slower spell of the machine or the network weighs on both alike."""
    if not shutil.which("mmdebstrap"):
        raise Skip("mmdebstrap is not installed")
    cold_times: list[float] = []
    incr_times: list[float] = []
    mm_times: list[float] = []
    store = proj = work
    for i in range(runs):
        if i:
            remove(store)
        store = work / f"store-{i}"
        proj = project(work, "bench", PACKAGES)
        env = env_for(store)
        cold_times.append(timed(devbox("build"), cwd=proj, env=env))
        (proj / "devbox.toml").write_text(spec("bench", [*PACKAGES, ADDED]))
        incr_times.append(timed(devbox("build"), cwd=proj, env=env))
        target = work / f"mmdebstrap-{i}"
        argv = [
            "mmdebstrap", "--variant=minbase", "--mode=root", f"--include={','.join(PACKAGES)}",
            "bookworm", str(target), "http://deb.debian.org/debian",
        ]  # fmt: skip
        mm_times.append(timed(argv))
        remove(target)
    pkgs = " ".join(PACKAGES)
    rows = [
        Row("build", f"cold build: bookworm + {pkgs}", "devbox build (fresh store)",
            _med(cold_times), runs, _all(cold_times)),
        Row("build", f"mmdebstrap of the same: bookworm minbase + {pkgs}",
            f"mmdebstrap --variant=minbase --include={','.join(PACKAGES)} bookworm DIR",
            _med(mm_times), runs, _all(mm_times)),
        Row("build", f"incremental build: add {ADDED}", "devbox build (after the cold build)",
            _med(incr_times), runs),
    ]  # fmt: skip
    rows.append(growth(work, store))
    return rows, store, proj


def _all(xs: list[float]) -> str:
    return "runs: " + ", ".join(f"{x:.1f} s" for x in xs)


def growth(work: Path, store: Path) -> Row:
    """How much a second project on the same base, with one small package, adds to the store."""
    second = project(work, "second", [SECOND])
    before = du_bytes(store)
    run(devbox("build"), cwd=second, env=env_for(store))
    after = du_bytes(store)
    sizes = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", SECOND], capture_output=True, text=True
    ).stdout
    own = [int(ln.split()[1]) for ln in sizes.splitlines() if ln.startswith("Installed-Size:")]
    note = f"{SECOND}'s own installed size: {own[0] / 1024:.2f} MiB" if own else ""
    row = Row("build", f"store growth: a second project, bookworm + {SECOND}",
              "du of the store before and after its devbox build", None, 1, note)  # fmt: skip
    row.extra["bytes"] = float(after - before)
    return row


def _med(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    from bench.report import checks, fmt

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="rounds of cold build and mmdebstrap")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (sudo)")
    work = Path(tempfile.mkdtemp(prefix="devbox-bench-", dir="/tmp"))
    try:
        rows, _, _ = measure(work, args.runs)
    except Skip as e:
        raise SystemExit(f"bench: cannot run: {e}") from None
    finally:
        remove(work)
    for r in rows:
        print(f"| {r.what} | `{r.command}` | {fmt(r)} | {r.note} |")
    for what, text, _, target in checks(rows):
        if what.startswith(("cold build", "adding one package", "second project")):
            print(f"| {what} | {text} | {target} |")


if __name__ == "__main__":
    main()
