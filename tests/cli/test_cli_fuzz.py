"""`devbox status` on 120 randomly mutated specs: exit 0 or 1, one clean error, never a traceback.

The specs are seeded mutations of a valid spec that uses every table (the same mutations as
tests/unit/test_spec_fuzz.py), so a failure names the seed that reproduces it:
``random_spec(random.Random(seed))``. `status` needs no root and builds nothing.

Each spec goes through the CLI's entry point, ``devbox.__main__.main``, in this process (a Python
start per spec made this the slowest of the CLI tests); a few go through a real ``python -m
devbox`` process as well, for what only a process has: its exit status and its streams.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devbox.__main__ import main
from tests.helpers import random_spec

SEED = 20240607
SPECS = 120
IN_A_PROCESS = 6  # of the SPECS seeds, also run as a real process


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def status(project: Path, home: Path) -> Result:
    """`devbox status` in `project` as a real process."""
    env = dict(os.environ, DEVBOX_HOME=str(home))
    env.pop("DEVBOX_ACTIVE", None)
    r = subprocess.run(
        [sys.executable, "-m", "devbox", "status"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return Result(r.returncode, r.stdout, r.stderr)


StatusHere = Callable[[Path, Path], Result]


@pytest.fixture
def status_here(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[StatusHere]:
    """`devbox status` in `project` through main(), in this process."""

    def run(project: Path, home: Path) -> Result:
        with monkeypatch.context() as m:
            m.chdir(project)
            m.setenv("DEVBOX_HOME", str(home))
            m.delenv("DEVBOX_ACTIVE", raising=False)
            code = main(["status"])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    previous = signal.getsignal(signal.SIGTERM)  # main() installs its own
    yield run
    signal.signal(signal.SIGTERM, previous)


def problem(r: Result) -> str | None:
    """What is wrong with a run of `devbox status`, or None if it behaved."""
    if r.returncode not in (0, 1):
        return f"exit status {r.returncode}"
    if "Traceback" in r.stdout + r.stderr:
        return "a traceback"
    if r.returncode == 1 and not r.stderr.startswith("devbox: error"):
        return "exit 1 without a clean `devbox: error` message"
    return None


def write_spec(tmp_path: Path, seed: int) -> tuple[Path, str]:
    project = tmp_path / f"p{seed}"
    project.mkdir()
    text = random_spec(random.Random(seed))
    (project / "devbox.toml").write_text(text, encoding="utf-8")
    return project, text


def failures(results: list[tuple[int, str, Result]]) -> list[str]:
    return [
        f"seed {seed}: {what}\n--- devbox.toml ---\n{text}\n--- stdout ---\n{r.stdout}"
        f"--- stderr ---\n{r.stderr}"
        for seed, text, r in results
        if (what := problem(r)) is not None
    ]


SEEDS = [SEED * 1000 + n for n in range(SPECS)]


def test_status_of_mutated_specs_never_crashes(tmp_path: Path, status_here: StatusHere) -> None:
    results = []
    for seed in SEEDS:
        project, text = write_spec(tmp_path, seed)
        results.append((seed, text, status_here(project, tmp_path / f"home{seed}")))

    bad = failures(results)
    assert not bad, f"{len(bad)} of {SPECS} specs misbehaved:\n\n" + "\n\n".join(bad[:5])
    codes = {r.returncode for _, _, r in results}
    assert codes == {0, 1}, f"the mutations should give both valid and invalid specs: {codes}"


def test_a_real_process_behaves_as_main_does(tmp_path: Path, status_here: StatusHere) -> None:
    """For the first few valid and invalid specs: the process's exit status and output are
    main()'s."""
    picked: dict[int, list[tuple[int, Path, str, Result]]] = {0: [], 1: []}
    for seed in SEEDS:
        project, text = write_spec(tmp_path, seed)
        here = status_here(project, tmp_path / "home")
        same = picked.get(here.returncode)
        if same is not None and len(same) < IN_A_PROCESS // 2:
            same.append((seed, project, text, here))
    assert all(len(p) == IN_A_PROCESS // 2 for p in picked.values()), picked

    results = []
    for seed, project, text, here in picked[0] + picked[1]:
        r = status(project, tmp_path / "home")
        results.append((seed, text, r))
        assert (r.returncode, r.stdout, r.stderr) == (here.returncode, here.stdout, here.stderr)
    bad = failures(results)
    assert not bad, "\n\n".join(bad)


def test_status_of_a_deeply_nested_spec(tmp_path: Path) -> None:
    (tmp_path / "devbox.toml").write_text("a = " + "[" * 1000 + "]" * 1000 + "\n")
    r = status(tmp_path, tmp_path / "home")
    assert problem(r) is None, r.stderr
