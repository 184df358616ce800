"""What one prompt costs with the activation hook, against direnv's, in the same real bash.

`measure()` starts one `bash --norc --noprofile`, and in it runs PROMPT_COMMAND the way bash does
before each prompt, timing every run with $EPOCHREALTIME (no process per sample):
- "empty":  an empty PROMPT_COMMAND;
- "direnv": `eval "$(direnv hook bash)"`, in a directory without .envrc;
- "devbox": `eval "$(devbox hook bash)"`, in a subdirectory of an allowed project, active,
  nothing changed since the last prompt.
Medians in seconds. Needs direnv (Debian package `direnv`). No box is built: activation is
the hook's business, the box is entered only by the shims.

`measure_cd()` times a `cd` the same way, in one bash, from before the `cd` to after
PROMPT_COMMAND ran, then cds out (untimed), round by round (each round times every case once):
- "direnv_cd": direnv's hook, into a directory with an allowed one-line `.envrc`;
- "devbox_cd": devbox's hook, into an allowed project devbox activated before, unchanged
  (the hook sources what devbox kept for it: no devbox process);
- "devbox_cd_changed": the same after `touch devbox.toml` (untimed): devbox starts, checks the
  spec's trust again and activates it.

    .venv/bin/python -m bench.hook [REPEATS]
"""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SPEC = """\
[box]
name = "benchbox"
base = "debian:bookworm"

[packages]
apt = ["python3"]

[env]
BENCH = "1"

[shell]
expose = ["python3"]
"""


def _script(repeats: int, devbox: list[str], project: Path, plain: Path, direnv: str) -> str:
    """bash code printing `KEY SECONDS` for every sample."""
    q = shlex.quote
    hook = shlex.join([*devbox, "hook", "bash"])
    return f"""
set -u
sample() {{ # KEY: run PROMPT_COMMAND as bash does at a prompt, REPEATS times
    local i t0 t1
    for ((i = 0; i < {repeats}; i++)); do
        t0=$EPOCHREALTIME
        eval "$PROMPT_COMMAND"
        t1=$EPOCHREALTIME
        echo "$1 $t0 $t1"
    done
}}
cd {q(str(plain))}
PROMPT_COMMAND=
sample empty
eval "$({q(direnv)} hook bash)"
eval "$PROMPT_COMMAND"
sample direnv
PROMPT_COMMAND=
eval "$({hook})"
cd {q(str(project / "sub"))}
eval "$PROMPT_COMMAND"
[[ ${{DEVBOX_ACTIVE-}} == benchbox ]] || {{ echo "devbox: not active" >&2; exit 1; }}
sample devbox
[[ ${{DEVBOX_ACTIVE-}} == benchbox ]] || {{ echo "devbox: left the box" >&2; exit 1; }}
"""


def _direnv() -> str:
    found = shutil.which("direnv")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "direnv"]
        subprocess.run(install, check=True, capture_output=True, env=env)
        found = shutil.which("direnv")
        if found:
            return found
    raise SystemExit("bench.hook needs direnv: apt-get install direnv")


def measure(repeats: int = 200) -> dict[str, float]:
    """Median seconds per prompt: {"empty": ..., "direnv": ..., "devbox": ...}."""
    direnv = _direnv()
    devbox = [sys.executable, "-m", "devbox"]
    with tempfile.TemporaryDirectory(prefix="devbox-bench-hook-") as tmp:
        base = Path(tmp)
        project, plain = base / "project", base / "plain"
        (project / "sub").mkdir(parents=True)
        plain.mkdir()
        (project / "devbox.toml").write_text(SPEC)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DIRENV_", "DEVBOX_"))}
        env.update(DEVBOX_HOME=str(base / "home"), HOME=str(base), XDG_CONFIG_HOME=str(base))
        subprocess.run([*devbox, "allow"], cwd=project, env=env, check=True, capture_output=True)
        script = _script(repeats, devbox, project, plain, direnv)
        proc = subprocess.run(
            ["bash", "--norc", "--noprofile"], input=script, env=env, cwd=base,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"the bench shell failed: {proc.stderr.strip()}")
    samples: dict[str, list[float]] = {"empty": [], "direnv": [], "devbox": []}
    for line in proc.stdout.splitlines():
        key, t0, t1 = line.split()
        samples[key].append(float(t1) - float(t0))
    return {key: statistics.median(values) for key, values in samples.items()}


def _cd_script(rounds: int, devbox: list[str], project: Path, envrc: Path, out: Path) -> str:
    """bash code printing `KEY SECONDS` for every timed cd."""
    q = shlex.quote
    hook = shlex.join([*devbox, "hook", "bash"])
    return f"""
set -u
eval "$(direnv hook bash)"
direnv_pc=$PROMPT_COMMAND
PROMPT_COMMAND=
eval "$({hook})"
devbox_pc=$PROMPT_COMMAND
timed() {{ # KEY DIR PROMPT VAR: cd into DIR, run PROMPT as bash does at a prompt (timed), VAR set
    local t0 t1
    PROMPT_COMMAND=$3
    t0=$EPOCHREALTIME
    cd "$2"
    eval "$PROMPT_COMMAND"
    t1=$EPOCHREALTIME
    echo "$1 $t0 $t1"
    [[ -n ${{!4-}} ]] || {{ echo "$1: $4 not set" >&2; exit 1; }}
    cd {q(str(out))}
    eval "$PROMPT_COMMAND"
}}
cd {q(str(out))}
timed devbox_cd_changed {q(str(project))} "$devbox_pc" DEVBOX_ACTIVE >/dev/null # kept now
for ((i = 0; i < {rounds}; i++)); do
    timed direnv_cd {q(str(envrc))} "$direnv_pc" BENCH_ENVRC
    timed devbox_cd {q(str(project))} "$devbox_pc" DEVBOX_ACTIVE
    touch {q(str(project / "devbox.toml"))}
    timed devbox_cd_changed {q(str(project))} "$devbox_pc" DEVBOX_ACTIVE
done
[[ -z ${{DEVBOX_ACTIVE-}} && -z ${{BENCH_ENVRC-}} ]] || {{ echo "not left" >&2; exit 1; }}
"""


def measure_cd(rounds: int = 30) -> dict[str, float]:
    """Median seconds per cd: {"direnv_cd": ..., "devbox_cd": ..., "devbox_cd_changed": ...}."""
    direnv = _direnv()
    devbox = [sys.executable, "-m", "devbox"]
    with tempfile.TemporaryDirectory(prefix="devbox-bench-cd-") as tmp:
        base = Path(tmp)
        project, envrc, out = base / "project", base / "envrc", base / "out"
        for d in (project, envrc, out):
            d.mkdir()
        (project / "devbox.toml").write_text(SPEC)
        (envrc / ".envrc").write_text("export BENCH_ENVRC=1\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DIRENV_", "DEVBOX_"))}
        env.update(
            DEVBOX_HOME=str(base / "home"),
            HOME=str(base),
            XDG_CONFIG_HOME=str(base),
            XDG_DATA_HOME=str(base / "data"),
            PATH=f"{Path(direnv).parent}:{env['PATH']}",
        )
        run = {"env": env, "check": True, "capture_output": True}
        subprocess.run([*devbox, "allow"], cwd=project, **run)  # type: ignore[call-overload]
        subprocess.run([direnv, "allow", str(envrc)], cwd=envrc, **run)  # type: ignore[call-overload]
        script = _cd_script(rounds, devbox, project, envrc, out)
        proc = subprocess.run(
            ["bash", "--norc", "--noprofile"], input=script, env=env, cwd=base,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"the bench shell failed: {proc.stderr.strip()}")
    samples: dict[str, list[float]] = {"direnv_cd": [], "devbox_cd": [], "devbox_cd_changed": []}
    for line in proc.stdout.splitlines():
        key, t0, t1 = line.split()
        samples[key].append(float(t1) - float(t0))
    return {key: statistics.median(values) for key, values in samples.items()}


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    result = measure(repeats)
    for key, seconds in result.items():
        print(f"{key:<7} {seconds * 1e6:9.1f} µs per prompt (median of {repeats})")
    print(f"devbox / direnv: {result['devbox'] / result['direnv']:.3f}")
    rounds = max(10, repeats // 10)
    cds = measure_cd(rounds)
    for key, seconds in cds.items():
        print(f"{key:<17} {seconds * 1e3:7.2f} ms per cd (median of {rounds})")
    print(f"devbox cd / direnv cd: {cds['devbox_cd'] / cds['direnv_cd']:.3f}")


if __name__ == "__main__":
    main()
