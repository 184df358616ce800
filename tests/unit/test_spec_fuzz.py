"""Fuzzing the spec loader: whatever the bytes, the user gets a clean DevboxError, never a crash.

Hypothesis feeds arbitrary text and bytes, and structured mutations of a valid spec that uses
every table of docs/spec.md. ``parse_spec`` must return a Spec or raise DevboxError; a SpecError
must name the file, fit on one screen, and point at a line that exists.

The mutations are plain data (``Op`` tuples) applied by ``mutate``, so the CLI fuzz test
(tests/test_cli_fuzz.py) draws the same kinds of mutations from a seeded ``random.Random``.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from pathlib import Path
from typing import Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devbox.errors import DevboxError, SpecError
from devbox.spec.load import load_spec, parse_spec
from devbox.spec.model import Spec

SPEC_PATH = Path("/tmp/p/devbox.toml")
MAX_RENDERED_LINES = 15

# Every table and key of docs/spec.md, with an interpreter in table form too.
FULL_SPEC = """\
[box]
name = "webapp"
base = "debian:bookworm"
mirror = "http://deb.debian.org/debian"

[packages]
apt = ["libxml2-dev", "libpq-dev=15.*", "git"]

[interpreters]
python = "3.11"
node = { version = "20", provider = "npm" }

[env]
DJANGO_SETTINGS_MODULE = "web.settings"
PATH = "${DEVBOX_PROJECT}/bin:${PATH}"

[setup]
run = ["pip install -r requirements.txt"]
inputs = ["requirements.txt"]

[shell]
program = "bash"
workdir = "/workspace"
expose = ["psql"]
home = "isolated"
"""

KNOWN_NAMES = (
    "box", "name", "base", "mirror", "packages", "apt", "interpreters", "python", "node",
    "version", "provider", "env", "setup", "run", "inputs", "shell", "program", "workdir",
    "expose", "home",
)  # fmt: skip
SPECIAL_STRINGS = (
    "", " ", "debian:", "debian:sid", "oci:", "oci:/x", "oci:a b", "rootfs:.tar", "rootfs:x.tgz",
    "http://", "file:/", "3", "3.11.4.5", "..", "../x", "/", "/..", "a/b", "${PATH}", "=",
    "git=", "isolated", "host", "apt", "uv", "npm", "\\", "\x00", "\u2028", "é", "🦆", "a\nb",
)  # fmt: skip
# Values may hold any character, line breaks and terminal escapes included: errors show them
# escaped, on one line.
PRINTABLE = string.printable + "é🦆\u2028\x1b"
NO_NEWLINE = st.characters()
UNICODE_BITS = ("\x00", "\x7f", "\u00e9", "\u2028", "\u200b", "\ufeff", "\U0001f986", "\r", "\t")

# A mutation of a spec's text, as plain data. Indices are taken modulo the number of lines (or
# characters), so any integer is valid for any text.
#   ("drop", i)             drop line i
#   ("dup", i)              duplicate line i
#   ("swap", i, j)          swap the values of the key lines i and j (`key = value`)
#   ("value", i, v)         replace the value of key line i with the TOML text v
#   ("insert", i, line)     insert a line (an unknown key, a header, junk) before line i
#   ("truncate", n)         cut the text after n characters
#   ("splice", n, s)        insert the text s at character n
Op = Union[tuple[str, int], tuple[str, int, int], tuple[str, int, str]]


# -- applying mutations ----------------------------------------------------------------------------


def _split_keyval(line: str) -> tuple[str, str] | None:
    key, sep, value = line.partition(" = ")
    return (key, value) if sep else None


def apply_op(text: str, op: Op) -> str:
    kind = op[0]
    if kind == "truncate":
        return text[: op[1] % (len(text) + 1)]
    if kind == "splice":
        n = op[1] % (len(text) + 1)
        return text[:n] + str(op[2]) + text[n:]
    lines = text.split("\n")
    i = op[1] % len(lines)
    if kind == "drop":
        del lines[i]
    elif kind == "dup":
        lines.insert(i, lines[i])
    elif kind == "insert":
        lines.insert(i, str(op[2]))
    elif kind == "value":
        kv = _split_keyval(lines[i])
        if kv is not None:
            lines[i] = f"{kv[0]} = {op[2]}"
    elif kind == "swap":
        j = int(op[2]) % len(lines)
        a, b = _split_keyval(lines[i]), _split_keyval(lines[j])
        if a is not None and b is not None:
            lines[i], lines[j] = f"{a[0]} = {b[1]}", f"{b[0]} = {a[1]}"
    else:
        raise AssertionError(f"unknown mutation {op!r}")
    return "\n".join(lines)


def mutate(text: str, ops: list[Op]) -> str:
    for op in ops:
        text = apply_op(text, op)
    return text


# -- seeded random mutations (for the CLI fuzz test) -----------------------------------------------


def random_key(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(KNOWN_NAMES)
    if rng.random() < 0.7:
        return "".join(rng.choices(string.ascii_letters + "_-", k=rng.randint(1, 10)))
    return toml_string(rng.choice(SPECIAL_STRINGS) + rng.choice(UNICODE_BITS))


def toml_string(s: str) -> str:
    escaped = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    escaped = "".join(c if c.isprintable() or c in "\\" else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def random_value(rng: random.Random, depth: int = 0) -> str:
    """TOML text of a value of any type: scalars, arrays, inline tables, sometimes invalid."""
    roll = rng.randrange(11 if depth < 2 else 8)
    if roll == 0:
        return toml_string(rng.choice(SPECIAL_STRINGS))
    if roll == 1:
        return toml_string("".join(rng.choices(PRINTABLE, k=rng.randint(0, 12))))
    if roll == 2:
        return str(rng.randint(-(2**70), 2**70))
    if roll == 3:
        return rng.choice(("1.5", "-0.0", "inf", "nan", "1e308", "6.02e23"))
    if roll == 4:
        return rng.choice(("true", "false"))
    if roll == 5:
        return rng.choice(("1979-05-27", "07:32:00", "1979-05-27T07:32:00Z", "1979-05-27 07:32"))
    if roll == 6:
        return rng.choice(('"""a\nb"""', "'''x\n\n'''", "'lit\\eral'", '"\\u00e9"'))
    if roll == 7:  # invalid TOML
        return rng.choice(("", "=", "[", "{", '"', "'''", "0x", "1__0", "[1,,2]", "{a=1,}", "@"))
    if roll in (8, 9):
        items = [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return "[" + ", ".join(items) + "]"
    pairs = [
        f"{random_key(rng)} = {random_value(rng, depth + 1)}" for _ in range(rng.randint(0, 3))
    ]
    return "{" + ", ".join(pairs) + "}"


def random_line(rng: random.Random) -> str:
    roll = rng.randrange(4)
    if roll == 0:
        return f"[{random_key(rng)}]"
    if roll == 1:
        return f"[{rng.choice(KNOWN_NAMES)}.{random_key(rng)}]"
    if roll == 2:
        return f"{random_key(rng)}.{random_key(rng)} = {random_value(rng)}"
    return f"{random_key(rng)} = {random_value(rng)}"


def random_op(rng: random.Random) -> Op:
    kind = rng.choice(("drop", "dup", "swap", "value", "value", "insert", "truncate", "splice"))
    n = rng.randrange(10_000)
    if kind in ("drop", "dup", "truncate"):
        return (kind, n)
    if kind == "swap":
        return (kind, n, rng.randrange(10_000))
    if kind == "value":
        return (kind, n, random_value(rng))
    if kind == "insert":
        return (kind, n, random_line(rng))
    bit = rng.choice((*UNICODE_BITS, "[", "]", "=", '"', "'", "\n", "#", ".", "{"))
    return (kind, n, bit * rng.randint(1, 3))


def random_spec(rng: random.Random) -> str:
    return mutate(FULL_SPEC, [random_op(rng) for _ in range(rng.randint(1, 5))])


# -- the property ----------------------------------------------------------------------------------


def check_clean(text: str, path: Path, load: Callable[[], Spec]) -> None:
    """``load()`` returns a Spec or raises a clean DevboxError; any other exception escapes."""
    try:
        spec = load()
    except SpecError as e:
        rendered = e.render()
        assert str(path) in rendered, rendered
        assert rendered.count("\n") < MAX_RENDERED_LINES, rendered  # as a terminal shows it
        if e.line is not None:
            lines = max(len(text.splitlines()), text.count("\n"))
            assert 1 <= e.line <= lines + 1, (e.line, rendered)
    except DevboxError as e:
        assert e.render().startswith("devbox: error"), e.render()
    else:
        assert isinstance(spec, Spec)


def check_parse(text: str) -> None:
    check_clean(text, SPEC_PATH, lambda: parse_spec(text, SPEC_PATH))


FUZZ = settings(max_examples=300, deadline=None)

# Hypothesis strategies for the same mutations as ``random_op``.
scalars = st.one_of(
    st.sampled_from(SPECIAL_STRINGS).map(toml_string),
    st.text(NO_NEWLINE, max_size=12).map(toml_string),
    st.integers().map(str),
    st.floats().map(lambda f: str(f).replace("e+", "e")),
    st.sampled_from(("true", "false", "1979-05-27", "07:32:00", "1979-05-27T07:32:00Z")),
    st.sampled_from(("", "=", "[", "{", '"', "'''", "0x", "[1,,2]", "{a=1,}", '"""a\nb"""')),
)
keys = st.one_of(
    st.sampled_from(KNOWN_NAMES),
    st.from_regex(r"[A-Za-z0-9_-]{1,10}", fullmatch=True),
    st.text(NO_NEWLINE, max_size=6).map(toml_string),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(keys, inner), max_size=3).map(
            lambda kvs: "{" + ", ".join(f"{k} = {v}" for k, v in kvs) + "}"
        ),
    ),
    max_leaves=6,
)
lines = st.one_of(
    keys.map(lambda k: f"[{k}]"),
    st.tuples(st.sampled_from(KNOWN_NAMES), keys).map(lambda t: f"[{t[0]}.{t[1]}]"),
    st.tuples(keys, values).map(lambda t: f"{t[0]} = {t[1]}"),
    st.tuples(keys, keys, values).map(lambda t: f"{t[0]}.{t[1]} = {t[2]}"),
    st.text(NO_NEWLINE, max_size=20),
)
index = st.integers(min_value=0, max_value=10_000)
ops = st.one_of(
    st.tuples(st.sampled_from(("drop", "dup", "truncate")), index),
    st.tuples(st.just("swap"), index, index),
    st.tuples(st.just("value"), index, values),
    st.tuples(st.just("insert"), index, lines),
    st.tuples(st.just("splice"), index, st.text(min_size=1, max_size=4)),
)


# -- tests -----------------------------------------------------------------------------------------


def test_the_unmutated_spec_is_valid() -> None:
    spec = parse_spec(FULL_SPEC, SPEC_PATH)
    assert {i.name for i in spec.interpreters} == {"python", "node"}
    assert spec.shell.expose == ("psql",)


def test_seeded_mutations_are_reproducible() -> None:
    assert random_spec(random.Random(7)) == random_spec(random.Random(7))


@FUZZ
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    check_parse(text)


@FUZZ
@given(st.binary(), st.sampled_from(("surrogateescape", "replace")))
def test_arbitrary_bytes_decoded(data: bytes, errors: str) -> None:
    check_parse(data.decode("utf-8", errors=errors))


@FUZZ
@given(st.lists(ops, min_size=1, max_size=5))
def test_mutated_specs(mutations: list[Op]) -> None:
    check_parse(mutate(FULL_SPEC, mutations))


@FUZZ
@given(st.randoms(use_true_random=False))
def test_seeded_random_mutations(rng: random.Random) -> None:
    check_parse(random_spec(rng))


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "devbox.toml"


def _spec_bytes() -> st.SearchStrategy[bytes]:
    spliced = st.tuples(index, st.binary(min_size=1, max_size=4)).map(
        lambda t: (
            FULL_SPEC.encode()[: t[0] % len(FULL_SPEC)]
            + t[1]
            + FULL_SPEC.encode()[t[0] % len(FULL_SPEC) :]
        )
    )
    return st.one_of(st.binary(), spliced)


@FUZZ
@given(data=_spec_bytes())
def test_load_spec_of_arbitrary_bytes(spec_file: Path, data: bytes) -> None:
    spec_file.write_bytes(data)
    text = data.decode("utf-8", errors="replace")
    check_clean(text, spec_file, lambda: load_spec(spec_file))


# -- regressions the fuzzing found ----------------------------------------------------------------


def test_deep_nesting_is_a_clean_error() -> None:
    check_parse("a = " + "[" * 1000 + "]" * 1000)


def test_control_characters_in_values_are_shown_escaped() -> None:
    check_parse('[box]\nbase = "' + "\\n" * 15 + '"\n')
