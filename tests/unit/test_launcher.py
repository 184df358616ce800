"""The launcher's pure parts: quoting argv words with its placeholders, and the env options."""

from __future__ import annotations

import subprocess

import pytest

from devbox import launcher
from devbox.launcher import _CMD, _CWD, _PID, _probe, _word, env_options


@pytest.mark.parametrize(
    ("word", "shell"),
    [
        ("plain", "plain"),
        ("it's a b", "'it'\"'\"'s a b'"),
        ("", "''"),
        (_CMD, '"$@"'),
        (_CWD, '"$c"'),
        ("--target=" + _PID, '--target="$pid"'),
        (_PID + "/x y", "\"$pid\"'/x y'"),
    ],
)
def test_words_are_quoted_with_placeholders_expanded(word: str, shell: str) -> None:
    assert _word(word) == shell


def test_quoted_words_survive_the_shell() -> None:
    words = ["a b", "it's", "$(rm -rf /)", "*", "--target=" + _PID, "x" + _CWD + "y"]
    script = f'pid=42; c="/w d"; printf "%s\\n" {launcher._words(words)}'
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["a b", "it's", "$(rm -rf /)", "*", "--target=42", "x/w dy"]


def test_env_options_static_and_passed_through() -> None:
    plain = {"PATH": "/bin", "TERM": "dumb", "TZ": "UTC"}  # [env] sets TZ itself
    probed = {"PATH": "/bin", "TERM": _probe("TERM"), "TZ": "UTC", "NO_COLOR": _probe("NO_COLOR")}
    opts = env_options(plain, probed)
    assert opts == [
        "--clearenv",
        '${NO_COLOR+--setenv} ${NO_COLOR+NO_COLOR} ${NO_COLOR+"$NO_COLOR"}',
        '--setenv TERM "$TERM"',
        "--setenv PATH /bin",
        "--setenv TZ UTC",
    ]


def test_env_derived_from_the_host_has_no_fast_path() -> None:
    plain = {"PATH": "/bin", "TERM": "dumb", "MINE": "dumb-x"}  # [env] MINE = "${TERM}-x"
    probed = {"PATH": "/bin", "TERM": _probe("TERM"), "MINE": _probe("TERM") + "-x"}
    assert env_options(plain, probed) is None


def test_unset_pass_through_values_add_no_words() -> None:
    opt = env_options({}, {"TZ": _probe("TZ")})
    assert opt is not None
    script = f'set -- {opt[1]}; echo $#; TZ=; set -- {opt[1]}; echo $# "$3"'
    out = subprocess.run(["sh", "-c", f"unset TZ; {script}"], capture_output=True, text=True)
    assert out.stdout.split("\n")[:2] == ["0", "3 "]
