"""The repository speaks of itself only, and ships every module it imports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Pointers to files outside the repository (a sibling notes directory, documents by their old
# names) and to an issue tracker's numbers: a reader of the repository has neither.
STALE = re.compile(
    r"\.\./shared/"
    r"|\b(?:SPEC|DESIGN)\.md\b"
    r"|\bBENCH-NOTES\b"
    r"|\b[Ii]ssues? #?\d+"
)


def _git(*args: str) -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.split("\0") if line]


def _stale(text: str) -> list[str]:
    return [
        f"{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if STALE.search(line)
    ]


def test_the_pattern_finds_what_it_is_for() -> None:
    for bad in (
        "see ../shared/NOTES.md",
        "the exit codes of SPEC.md",
        "Tiers (DESIGN.md)",
        "set up as BENCH-NOTES says",
        "(issue 6)",
        "lands with Issue #5",
    ):
        assert _stale(bad), bad
    for fine in (
        "docs/spec.md",
        "docs/design/tiers.md",
        "an issue with the mirror",
        "../README.md",
    ):
        assert not _stale(fine), fine


def test_no_tracked_file_points_outside_the_repository_or_at_issue_numbers() -> None:
    found = []
    for rel in _git("ls-files", "-z"):
        path = REPO / rel
        if path == Path(__file__).resolve() or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        found += [f"{rel}:{hit}" for hit in _stale(text)]
    assert found == []


def test_every_python_file_of_the_package_is_tracked() -> None:
    """A module that .gitignore hides (a `build/` pattern catching devbox/build/) works in the
    checkout that wrote it and is missing from every clone."""
    hidden = _git("ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--", "devbox")
    assert [p for p in hidden if p.endswith((".py", ".sh"))] == []


def test_the_committed_benchmark_pages_say_what_their_generators_write() -> None:
    """docs/benchmarks*.md are written by the bench; a hand edit of one (no full rerun) must
    match its generator's text, and the other way round."""
    from bench import enter, report

    for page, notes in (("benchmarks.md", report.NOTES), ("benchmarks-tiers.md", enter.NOTES)):
        text = (REPO / "docs" / page).read_text()
        assert [n for n in notes if n not in text] == [], page
    assert "\n## Acceptance ratios\n" in (REPO / "docs" / "benchmarks.md").read_text()
