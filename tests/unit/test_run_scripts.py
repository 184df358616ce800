"""[scripts] and `devbox run NAME`: the spec's table, the argv a script becomes (the same for the
launcher's `case` and the Python path), which words name a script, and the listing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devbox.activation import scripts
from devbox.activation.entry import parse_fast
from devbox.errors import EXIT_USAGE, DevboxError, SpecError
from devbox.spec.load import parse_spec
from devbox.spec.scripts import command_line, script_argv

BASE = '[box]\nbase = "debian:bookworm"\n'


def spec_with(scripts_toml: str, tmp_path: Path) -> object:
    return parse_spec(BASE + "[scripts]\n" + scripts_toml, tmp_path / "devbox.toml")


def test_scripts_are_command_lines_or_words_in_file_order(tmp_path: Path) -> None:
    spec = parse_spec(
        BASE + '[scripts]\ntest = "pytest -x"\n"db:up" = ["docker", "compose", "up"]\n',
        tmp_path / "devbox.toml",
    )
    assert spec.scripts == (("test", "pytest -x"), ("db:up", ("docker", "compose", "up")))


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('"-x" = "true"', '"-x" is not a valid script name'),
        ('"a b" = "true"', '"a b" is not a valid script name'),
        ('t = "  "', "the command is empty"),
        ("t = []", "the command is empty"),
        ("t = 3", "expected a command line or an array of words, found an integer"),
        ('t = ["a", 1]', "item 2 is an integer"),
    ],
)
def test_bad_scripts_are_named_with_their_line(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_spec(BASE + "[scripts]\n" + toml + "\n", tmp_path / "devbox.toml")
    assert message in str(e.value)
    assert ":4:" in str(e.value) and "scripts." in str(e.value)


def test_arguments_go_after_the_command(tmp_path: Path) -> None:
    assert script_argv("t", ("pytest", "-x"), ["-k", "a b"]) == ["pytest", "-x", "-k", "a b"]
    assert command_line("pytest -x ") == 'pytest -x "$@"'
    for uses in ('echo "$1"', "echo $*", 'f "$@"; g', "echo ${2}"):
        assert command_line(uses) == uses, "a line that uses its arguments stands as written"
    argv = script_argv("t", "printf '[%s]' first", ["a b", "$x"])
    r = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert r.stdout == "[first][a b][$x]", "each argument one word, never parsed again"
    r = subprocess.run(script_argv("t", 'echo "$0:$2"', ["a", "b"]), capture_output=True, text=True)
    assert r.stdout == "t:b\n"


def test_the_launcher_cases_run_the_same_argv(tmp_path: Path) -> None:
    spec = parse_spec(
        BASE + "[scripts]\nt = \"printf '<%s>' \\\"it's\\\"\"\nw = ['printf', '(%s)', '$x']\n",
        tmp_path / "devbox.toml",
    )
    code = scripts.script_cases(spec)
    show = 'printf "[%s]" "$@"'
    for named, argv, want in [
        ("", ["t", "a b"], '[sh][-c][printf \'<%s>\' "it\'s" "$@"][t][a b]'),
        ("", ["w", "y"], "[printf][(%s)][$x][y]"),
        ("", ["other", "y"], "[other][y]"),
        ("--", ["t", "y"], "[t][y]"),  # `devbox run -- t`: the command t
    ]:
        r = subprocess.run(
            ["sh", "-c", f"n={named}\n{code}{show}", "sh", *argv], capture_output=True, text=True
        )
        assert r.stdout == want, (r.stdout, r.stderr)
        if named == "" and argv[0] != "other":
            assert r.stdout == "".join(f"[{a}]" for a in scripts.resolve(spec, argv))
    assert scripts.script_cases(parse_spec(BASE, tmp_path / "devbox.toml")) == ""


@pytest.mark.parametrize(
    ("args", "command", "named"),
    [
        (["run", "test", "-x"], ["test", "-x"], True),
        (["run", "--root", "test"], ["test"], True),
        (["run", "--", "test"], ["test"], False),
        (["run", "--root", "--", "test"], ["test"], False),
    ],
)
def test_which_words_may_name_a_script(args: list[str], command: list[str], named: bool) -> None:
    parsed = parse_fast(args)
    assert parsed is not None
    assert (parsed[1], parsed[4]) == (command, named)


def test_resolve_keeps_a_word_that_names_no_script(tmp_path: Path) -> None:
    spec = parse_spec(BASE + '[scripts]\nt = ["true"]\n', tmp_path / "devbox.toml")
    assert scripts.resolve(spec, ["ls", "-l"]) == ["ls", "-l"]
    assert scripts.resolve(spec, ["t", "x"]) == ["true", "x"]


def test_the_listing(tmp_path: Path) -> None:
    spec = parse_spec(
        BASE + '[scripts]\ntest = "pytest -x"\nfmt = ["black", "a b"]\n', tmp_path / "devbox.toml"
    )
    assert scripts.listing(spec).splitlines() == [
        f"scripts of {tmp_path.name} (devbox run NAME [ARGS...]):",
        "  test  pytest -x",
        "  fmt   black 'a b'",
    ]
    with pytest.raises(DevboxError) as e:
        scripts.listing(parse_spec(BASE, tmp_path / "devbox.toml"))
    assert e.value.exit_code == EXIT_USAGE
    assert "has no [scripts]" in e.value.message and "devbox run -- CMD" in str(e.value.hint)
