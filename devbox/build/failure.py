"""A failed build step, told in devbox's words: which layer and which [setup] step, the first
line that looks like the error, what apt could not find, and the raw log for the rest. Only
the step's own output is quoted, never the scripts devbox generated (the log keeps those)."""

from __future__ import annotations

import re
from pathlib import Path

from devbox.errors import DevboxError

STEP = re.compile(r"^devbox: setup step (\d+)/(\d+): (.*)$")  # steps.setup_script's markers
NO_PACKAGE = re.compile(r"^E: Unable to locate package (\S+)")
NO_CANDIDATE = re.compile(r"^E: Package '([^']+)' has no installation candidate")
ERROR = re.compile(
    r"^E: |\b(error|errors|fatal|failed|failure|cannot|can't|could not|couldn't|not found|"
    r"no such|unable|denied|invalid|missing|traceback|abort(ed)?)\b",
    re.IGNORECASE,
)
SHOWN = 8  # lines of the step's output quoted


def disk_full(label: str, log: Path) -> DevboxError:
    """Step `label` failed for want of space in the store (`log` is in its logs dir)."""
    return DevboxError(
        f"{label} failed: the disk is full (no space left on device under {log.parent.parent})",
        hint="free some space (`devbox gc` deletes what no project uses), or point "
        "DEVBOX_HOME at a bigger disk",
        log=str(log),
    )


def explain(label: str, rc: int, output: str, log: Path, suite: str | None = None) -> DevboxError:
    """The error for step `label` that exited `rc` having printed `output` (to the log)."""
    lines = [line.rstrip() for line in output.splitlines()]
    low = output.lower()
    # ENOSPC from unshare is the user-namespace limit, not the disk (host.userns_failure)
    if "no space left on device" in low and "unshare failed" not in low:
        return disk_full(label, log)
    missing = _apt_missing(lines)
    if missing:
        where = f" in {suite}" if suite else ""
        said = "; ".join(
            f"apt has no package {name}{where}"
            if why == "none"
            else f"apt knows {name}{where} but has no version of it to install"
            for name, why in missing
        )
        page = f"https://packages.debian.org/{suite}/" if suite else "https://packages.debian.org"
        return DevboxError(
            f"{label} failed: {said}",
            hint=f"check the name in devbox.toml; `apt-cache search WORD` in the box, or {page}, "
            "lists what exists",
            log=str(log),
        )
    step = None
    for i, line in enumerate(lines):
        m = STEP.match(line)
        if m:
            step = (m[1], m[2], m[3], i + 1)
    head = f"{label} failed"
    if step is not None:
        n, total, command, start = step
        head += f" at setup step {n}/{total}: {command}"
        lines = lines[start:]
    head += f" (exit status {rc})"
    shown = [line for line in lines if line.strip()]
    # not a command devbox wrote into the log (`$ ...`): its arguments are not an error
    first = next((ln for ln in shown if ERROR.search(ln) and not ln.startswith("$ ")), None)
    parts = [head]
    if first is not None:
        parts.append(f"  the first error: {first.strip()}")
    if shown:
        parts.append("  its last lines:")
        parts += [f"    {line}" for line in shown[-SHOWN:]]
    else:
        parts.append("  it printed nothing")
    return DevboxError("\n".join(parts), log=str(log))


def _apt_missing(lines: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for line in lines:
        m = NO_PACKAGE.match(line)
        if m:
            out.append((m[1], "none"))
        m = NO_CANDIDATE.match(line)
        if m:
            out.append((m[1], "candidate"))
    return out
