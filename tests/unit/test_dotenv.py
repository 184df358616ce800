"""`[env] files`: the .env syntax parsed (never run), files read without following a link, their
values under [env]'s in every box env and in the hook's, and trust covering them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devbox.activation import trust
from devbox.activation.hook import activation_vars
from devbox.errors import DevboxError, SpecError
from devbox.sandbox.boxenv import box_env
from devbox.spec import dotenv
from devbox.spec.load import parse_spec
from devbox.spec.model import Spec

BASE = '[box]\nname = "demo"\nbase = "debian:bookworm"\n'
SAMPLE = """\
# a comment
export A=1
B = "two words"  # trailing comment
C='single $NOT \\\\n expanded'
D=plain value # comment
E=x#not-a-comment
F="multi
line \\"quoted\\" \\\\ \\$HOME \\n"
G=
 export  H=$(touch /tmp/pwned)

I="${A}"
"""


def test_the_common_syntax_is_parsed_and_nothing_is_run() -> None:
    assert dotenv.parse(SAMPLE, ".env") == [
        ("A", "1"),
        ("B", "two words"),
        ("C", "single $NOT \\\\n expanded"),
        ("D", "plain value"),
        ("E", "x#not-a-comment"),
        ("F", 'multi\nline "quoted" \\ $HOME \n'),
        ("G", ""),
        ("H", "$(touch /tmp/pwned)"),
        ("I", "${A}"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A=1\nnot a pair\n", ".env, line 2: not a pair is not KEY=VALUE"),
        ("1A=x\n", "line 1: 1A=x is not KEY=VALUE"),
        ('A="open\n', 'line 1: the " quote is never closed'),
        ("A='x' y\n", "line 1: text after the closing quote"),
    ],
)
def test_a_bad_line_is_named(text: str, message: str) -> None:
    with pytest.raises(DevboxError) as e:
        dotenv.parse(text, ".env")
    assert message in e.value.message


def _project(tmp_path: Path, env_toml: str, files: dict[str, str]) -> Spec:
    project = tmp_path / "p"
    project.mkdir(exist_ok=True)
    for name, text in files.items():
        (project / name).write_text(text)
    text = BASE + "[env]\n" + env_toml
    (project / "devbox.toml").write_text(text)
    return parse_spec(text, project / "devbox.toml")


def test_files_in_order_missing_ones_skipped_and_env_wins(tmp_path: Path) -> None:
    spec = _project(
        tmp_path,
        'files = [".env", ".env.local", "gone.env"]\nA = "spec"\nURL = "db://${USER_}@h"\n',
        {".env": "A=dotenv\nB=one\nUSER_=me\n", ".env.local": "B=local\n"},
    )
    assert spec.env_files == (".env", ".env.local", "gone.env")
    assert spec.env == (("A", "spec"), ("URL", "db://${USER_}@h")), "files is not a variable"
    assert dotenv.load(spec) == {"A": "dotenv", "B": "local", "USER_": "me"}
    env = box_env(spec, {}, user="u", home="/h", shell="/bin/sh", workdir="/w")
    assert (env["A"], env["B"], env["URL"]) == ("spec", "local", "db://me@h")
    got = dict(activation_vars(spec, {"PATH": "/usr/bin"}, tmp_path / "shims"))
    assert (got["A"], got["B"], got["URL"]) == ("spec", "local", "db://me@h")


def test_a_string_named_files_is_still_a_variable(tmp_path: Path) -> None:
    spec = _project(tmp_path, 'files = "x"\n', {})
    assert (spec.env, spec.env_files) == ((("files", "x"),), ())


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('files = ["/etc/environment"]', '"/etc/environment" is an absolute path'),
        ('files = ["../up/.env"]', '"../up/.env" is outside the project'),
        ("files = [1]", "item 1 is an integer"),
    ],
)
def test_bad_env_files_are_spec_errors(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        _project(tmp_path, toml + "\n", {})
    assert message in str(e.value) and "env.files" in str(e.value)


def test_a_symlinked_env_file_is_refused_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("TOKEN=host-secret\n")
    spec = _project(tmp_path, 'files = [".env"]\n', {})
    (spec.project / ".env").symlink_to(secret)
    with pytest.raises(DevboxError) as e:
        dotenv.load(spec)
    assert e.value.message.startswith("[env] files: ") and ".env is a symlink" in e.value.message
    assert "host-secret" not in str(e.value)
    with pytest.raises(DevboxError):
        trust.current(spec, spec.path.read_bytes())
    os.unlink(spec.project / ".env")
    os.mkfifo(spec.project / ".env")  # never waited on
    with pytest.raises(DevboxError) as e:
        dotenv.load(spec)
    assert "FIFO" in e.value.message


def test_trust_covers_env_files(tmp_path: Path) -> None:
    spec = _project(tmp_path, 'files = [".env"]\n', {".env": "A=1\n"})
    data = spec.path.read_bytes()
    trust.allow(spec, data)
    assert trust.verdict(spec.path, data).state == trust.ALLOWED
    (spec.project / ".env").write_text("PATH=/tmp/evil\n")
    v = trust.verdict(spec.path, data)
    assert (v.state, v.changes) == (trust.CHANGED, ("env file .env",))
    assert trust.refusal(spec.path, v).startswith("env file .env changed since you allowed")
    (spec.project / ".env").unlink()
    assert trust.verdict(spec.path, data).changes == ("env file .env",)
    trust.allow(spec, data)
    assert trust.verdict(spec.path, data).state == trust.ALLOWED, "a missing file is allowed too"
