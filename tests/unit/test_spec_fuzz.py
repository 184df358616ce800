"""Fuzzing the spec loader: whatever the bytes, the user gets a clean DevboxError, never a crash.

Hypothesis feeds arbitrary text and bytes, and structured mutations of a valid spec that uses
every table of docs/spec.md. ``parse_spec`` must return a Spec or raise DevboxError; a SpecError
must name the file, fit on one screen, and point at a line that exists.

The mutations are plain data (``Op`` tuples) applied by ``mutate``, so the CLI fuzz test
(tests/cli/test_cli_fuzz.py) draws the same kinds of mutations from a seeded ``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devbox.errors import DevboxError, SpecError
from devbox.spec.load import load_spec, parse_spec
from devbox.spec.model import Spec
from tests.helpers import (
    FULL_SPEC,
    KNOWN_NAMES,
    SPECIAL_STRINGS,
    Op,
    mutate,
    random_spec,
    toml_string,
)

SPEC_PATH = Path("/tmp/p/devbox.toml")
MAX_RENDERED_LINES = 15

NO_NEWLINE = st.characters()


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
    assert [(s.name, s.box, s.depends_on) for s in spec.services] == [
        ("db", "services/db", ()),
        ("web", None, ("db",)),
    ]


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
