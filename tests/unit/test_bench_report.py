"""bench/report.py's splice: one section measured alone goes into a page the full bench wrote,
with its acceptance ratios and its note, and nothing else of the page changes."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.report import NOTES, splice, write
from bench.timing import Row


def _rows(devbox: float, compose: float, pod: float) -> list[Row]:
    return [
        Row("services", "services up: devbox up (postgres in its own box, redis)", "devbox up",
            devbox, 3),
        Row("services", "services up: podman-compose up -d (bridge network, ports published)",
            "podman-compose up -d", compose, 3),
        Row("services", "services up: a podman pod on the host's network", "podman pod create",
            pod, 3),
    ]  # fmt: skip


def _page(tmp_path: Path, rows: list[Row]) -> str:
    args = argparse.Namespace(runs=30, build_runs=3)
    cold = Row("build", "cold build: bookworm", "devbox build", 26.0, 3)
    out = write(tmp_path / "b.md", [cold, *rows], "vm", "bench.run", 60.0, args)
    return out.read_text()


def test_splice_adds_the_section_its_ratios_and_its_note(tmp_path: Path) -> None:
    old = _page(tmp_path, [])
    assert "## Services up" not in old
    new = splice(old, _rows(1.0, 4.0, 0.5), "services", "bench.services --runs 3")
    assert (
        "| services up: devbox up vs podman-compose up, both ready | 0.25× (1.0 s / 4.0 s) |" in new
    )
    assert (
        "| services up: devbox up vs a podman pod, both ready | 2.00× (1.0 s / 500.0 ms) |" in new
    )
    assert "Measured alone, " in new and "`bench.services --runs 3`" in new
    assert all(n in new for n in NOTES)
    # the rest of the page is as it was
    assert new.replace("\n", "").startswith(old.split("| services up:")[0].replace("\n", ""))
    assert "| cold build vs mmdebstrap --include |" in new


def test_splice_again_replaces_what_it_added(tmp_path: Path) -> None:
    old = _page(tmp_path, [])
    once = splice(old, _rows(1.0, 4.0, 0.5), "services", "x")
    twice = splice(once, _rows(2.0, 4.0, 0.5), "services", "x")
    assert twice.count("## Services up") == 1
    assert twice.count("| services up: devbox up vs podman-compose up") == 1
    assert "0.50× (2.0 s / 4.0 s)" in twice and "0.25×" not in twice
    assert twice.count("- **Services up.**") == 1
    assert "\n\n\n" not in twice


def test_the_full_page_and_a_splice_agree(tmp_path: Path) -> None:
    """The full bench writes what a splice of the same rows writes (but the section's intro)."""
    rows = _rows(1.0, 4.0, 0.5)
    full = _page(tmp_path, rows)
    spliced = splice(_page(tmp_path, []), rows, "services", "x")
    intro = next(line for line in spliced.splitlines() if line.startswith("Measured alone"))
    assert spliced.replace(intro + "\n\n", "") == full
