"""`devbox status` on 120 randomly mutated specs: exit 0 or 1, one clean error, never a traceback.

The specs are seeded mutations of a valid spec that uses every table (the same mutations as
tests/unit/test_spec_fuzz.py), so a failure names the seed that reproduces it:
``random_spec(random.Random(seed))``. `status` needs no root and builds nothing.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.helpers import random_spec

SEED = 20240607
SPECS = 120


def status(project: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEVBOX_HOME=str(home))
    env.pop("DEVBOX_ACTIVE", None)
    return subprocess.run(
        [sys.executable, "-m", "devbox", "status"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def problem(r: subprocess.CompletedProcess[str]) -> str | None:
    """What is wrong with a run of `devbox status`, or None if it behaved."""
    if r.returncode not in (0, 1):
        return f"exit status {r.returncode}"
    if "Traceback" in r.stdout + r.stderr:
        return "a traceback"
    if r.returncode == 1 and not r.stderr.startswith("devbox: error"):
        return "exit 1 without a clean `devbox: error` message"
    return None


def test_status_of_mutated_specs_never_crashes(tmp_path: Path) -> None:
    seeds = [SEED * 1000 + n for n in range(SPECS)]

    def one(seed: int) -> tuple[int, str, subprocess.CompletedProcess[str]]:
        project = tmp_path / f"p{seed}"
        project.mkdir()
        text = random_spec(random.Random(seed))
        (project / "devbox.toml").write_text(text, encoding="utf-8")
        return seed, text, status(project, tmp_path / f"home{seed}")

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, seeds))

    failures = [
        f"seed {seed}: {what}\n--- devbox.toml ---\n{text}\n--- stdout ---\n{r.stdout}"
        f"--- stderr ---\n{r.stderr}"
        for seed, text, r in results
        if (what := problem(r)) is not None
    ]
    assert not failures, f"{len(failures)} of {SPECS} specs misbehaved:\n\n" + "\n\n".join(
        failures[:5]
    )
    codes = {r.returncode for _, _, r in results}
    assert codes == {0, 1}, f"the mutations should give both valid and invalid specs: {codes}"


def test_status_of_a_deeply_nested_spec(tmp_path: Path) -> None:
    (tmp_path / "devbox.toml").write_text("a = " + "[" * 1000 + "]" * 1000 + "\n")
    r = status(tmp_path, tmp_path / "home")
    assert problem(r) is None, r.stderr
