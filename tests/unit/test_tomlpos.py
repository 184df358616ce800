from __future__ import annotations

import textwrap

import pytest

from devbox.spec.tomlpos import dotted, key_lines, line_of


def lines(text: str) -> dict[tuple[str, ...], int]:
    return key_lines(textwrap.dedent(text))


def test_tables_and_bare_keys() -> None:
    found = lines(
        """\
        # a comment
        top = 1

        [box]
        name = "web"   # trailing comment
        base = "debian:bookworm"
        """
    )
    assert found[("top",)] == 2
    assert found[("box",)] == 4
    assert found[("box", "name")] == 5
    assert found[("box", "base")] == 6


def test_dotted_header_defines_its_prefixes() -> None:
    found = lines(
        """\
        [interpreters.node]
        version = "20"
        [interpreters.python]
        version = "3.11"
        """
    )
    assert found[("interpreters",)] == 1
    assert found[("interpreters", "node")] == 1
    assert found[("interpreters", "node", "version")] == 2
    assert found[("interpreters", "python")] == 3
    assert found[("interpreters", "python", "version")] == 4


def test_header_with_spaces_and_quoted_parts() -> None:
    found = lines(
        """\
        [ a . "b.c" . 'd' ]
        e = 1
        """
    )
    assert found[("a", "b.c", "d")] == 1
    assert found[("a", "b.c", "d", "e")] == 2


def test_quoted_keys() -> None:
    found = lines(
        """\
        [env]
        "MY VAR" = "1"
        'lit\\eral' = "2"
        "esc\\u0041" = "3"
        """
    )
    assert found[("env", "MY VAR")] == 2
    assert found[("env", "lit\\eral")] == 3
    assert found[("env", "escA")] == 4


def test_dotted_keys() -> None:
    found = lines(
        """\
        [interpreters]
        python.version = "3.11"
        python . provider = "uv"
        """
    )
    assert found[("interpreters", "python")] == 2
    assert found[("interpreters", "python", "version")] == 2
    assert found[("interpreters", "python", "provider")] == 3


def test_inline_table_on_one_line() -> None:
    found = lines(
        """\
        [interpreters]
        node = {version = "20", provider = "npm"}
        python = "3.11"
        """
    )
    assert found[("interpreters", "node")] == 2
    assert found[("interpreters", "node", "version")] == 2
    assert found[("interpreters", "node", "provider")] == 2
    assert found[("interpreters", "python")] == 3


def test_multi_line_array_maps_to_the_key_line() -> None:
    found = lines(
        """\
        [packages]
        apt = [
          "git",  # a comment with ] and "quotes"
          "libpq-dev=15.*",
          [1, {x = 2}],
        ]
        after = 1
        """
    )
    assert found[("packages", "apt")] == 2
    assert found[("packages", "after")] == 7


def test_strings_that_look_like_toml_are_skipped() -> None:
    found = lines(
        '''\
        [setup]
        run = """
        [not.a.table]
        fake = 1 \\""" still inside
        """"
        text = 'a = [ {'
        path = "C:\\\\"
        [shell]
        home = "host"
        '''
    )
    assert ("not",) not in found
    assert ("setup", "fake") not in found
    assert found[("setup", "text")] == 6
    assert found[("setup", "path")] == 7
    assert found[("shell", "home")] == 9


def test_multi_line_literal_string() -> None:
    found = lines(
        """\
        a = '''
        b = 1
        '''''
        c = 2
        """
    )
    assert ("b",) not in found
    assert found[("c",)] == 4


def test_array_of_tables_and_crlf() -> None:
    found = key_lines("[[arr]]\r\nz = 1\r\n[[arr]]\r\nz = 2\r\n")
    assert found[("arr",)] == 1
    assert found[("arr", "z")] == 2


def test_first_definition_wins() -> None:
    found = lines(
        """\
        [a.b]
        x = 1
        [a]
        y = 2
        """
    )
    assert found[("a",)] == 1
    assert found[("a", "y")] == 4


@pytest.mark.parametrize(
    "text",
    ["[box", 'a = "unterminated\nb = 2', "a = [1, 2", "a = {x = ", "= = =", "[[[", "'''", "\\"],
)
def test_broken_input_never_raises(text: str) -> None:
    key_lines(text)


def test_line_of_falls_back_to_the_nearest_ancestor() -> None:
    found = lines(
        """\
        [box]
        name = "x"
        """
    )
    assert line_of(found, ("box", "name")) == 2
    assert line_of(found, ("box", "base")) == 1
    assert line_of(found, ("shell", "home")) is None
    assert line_of(found, ()) is None


def test_dotted() -> None:
    assert dotted(("shell", "program")) == "shell.program"
    assert dotted(("env", "MY VAR")) == 'env."MY VAR"'
    assert dotted(("a", 'q"t')) == 'a."q\\"t"'
