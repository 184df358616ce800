"""[limits] in devbox.toml (devbox/spec/limits.py): each key, its default, and every error
naming the file, the key path and the line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from devbox.errors import SpecError
from devbox.spec.limits import parse_size
from devbox.spec.load import parse_spec
from devbox.spec.model import Limits

SPEC_PATH = Path("/home/u/src/webapp/devbox.toml")
BOX = '[box]\nbase = "debian:bookworm"\n'


def limits(body: str) -> Limits:
    return parse_spec(BOX + textwrap.dedent(body), SPEC_PATH).limits


def failure(body: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        limits(body)
    return info.value


def test_no_table_means_no_limits() -> None:
    assert limits("") == Limits(memory=None, cpus=None, pids=None, strict=True)
    assert limits("[limits]\n") == Limits()


def test_every_key() -> None:
    found = limits(
        """\
        [limits]
        memory = "2G"
        cpus = 1.5
        pids = 512
        strict = false
        """
    )
    assert found == Limits(memory=2 * 2**30, cpus=1.5, pids=512, strict=False)


@pytest.mark.parametrize(
    ("text", "size"),
    [("256M", 256 * 2**20), ("256m", 256 * 2**20), ("1.5G", 3 * 2**29), ("64MiB", 64 * 2**20),
     ("1T", 2**40), ("20000000", 20000000), ("20480 K", 20 * 2**20), ("16MB", 16 * 2**20)],
)  # fmt: skip
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert limits(f'[limits]\nmemory = "{text}"\n').memory == size


def test_memory_as_bytes_and_cpus_as_an_integer() -> None:
    assert limits("[limits]\nmemory = 268435456\ncpus = 2\n") == Limits(268435456, 2.0)


@pytest.mark.parametrize(
    ("body", "says", "line"),
    [
        ('memory = "lots"', 'limits.memory: "lots" is not a size', 5),
        ('memory = "2X"', 'limits.memory: "2X" is not a size', 5),
        ('memory = "1M"', 'limits.memory: "1M" is out of range', 5),
        ("memory = 1.5", "limits.memory: expected a size", 5),
        ("memory = true", "limits.memory: expected a size", 5),
        ("cpus = 0", "limits.cpus: 0 CPUs is out of range", 5),
        ('cpus = "2"', "limits.cpus: expected a number of CPUs (1.5), found a string", 5),
        ("cpus = -1.5", "limits.cpus: -1.5 CPUs is out of range", 5),
        (
            "pids = 1.5",
            "limits.pids: expected a number of processes (an integer), found a float",
            5,
        ),
        ("pids = 4", "limits.pids: 4 processes is out of range", 5),
        ('strict = "no"', "limits.strict: expected true or false, found a string", 5),
        ("memroy = 1", 'limits.memroy: unknown key; did you mean "memory"?', 5),
    ],
)
def test_errors_name_file_key_and_line(body: str, says: str, line: int) -> None:
    err = failure(f"\n[limits]\n{body}\n")
    assert err.line == line
    assert err.message.startswith(f"{SPEC_PATH}:{line}: ")
    assert says in err.message, err.message


def test_a_limit_in_another_table_says_where_it_belongs() -> None:
    err = failure('memory = "2G"\n')
    assert "memory belongs in [limits]" in err.message
    assert err.fix == 'move it into the [limits] table: [limits] memory = "2G"'


def test_out_of_range_says_what_is_allowed() -> None:
    assert failure('[limits]\nmemory = "4K"\n').allowed == 'at least "16M"'
    assert failure("[limits]\npids = 1\n").allowed == "16 to 4194304"
