"""The fast path's parser: it takes only what it fully understands, and leaves the rest to typer."""

from __future__ import annotations

import pytest

from devbox.activation.entry import parse_fast


@pytest.mark.parametrize(
    ("args", "verb", "command", "root"),
    [
        (["run", "--", "sh", "-c", "exit 7"], "run", ["sh", "-c", "exit 7"], False),
        (["run", "ls", "-la"], "run", ["ls", "-la"], False),
        (["run", "--root", "--", "id", "-u"], "run", ["id", "-u"], True),
        (["run", "--", "--root"], "run", ["--root"], False),
        (["run", "--", "--help"], "run", ["--help"], False),
        (["-v", "run", "--", "true"], "run", ["true"], False),
        (["shell"], "shell", None, False),
        (["-q", "shell", "--root"], "shell", None, True),
    ],
)
def test_the_fast_grammar(
    args: list[str], verb: str, command: list[str] | None, root: bool
) -> None:
    parsed = parse_fast(args)
    assert parsed is not None
    assert parsed[:3] == (verb, command, root)


def test_global_flags_reach_the_display() -> None:
    parsed = parse_fast(["-v", "-q", "run", "--", "true"])
    assert parsed is not None
    assert (parsed[3].verbose, parsed[3].quiet) == (True, True)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["build"],
        ["run"],
        ["run", "--"],
        ["run", "--help"],
        ["run", "-h"],
        ["run", "--no-such-flag", "x"],
        ["shell", "--help"],
        ["shell", "extra"],
        ["--version"],
        ["status", "run"],
    ],
)
def test_everything_else_goes_to_typer(args: list[str]) -> None:
    assert parse_fast(args) is None
