from __future__ import annotations

from pathlib import Path

import pytest

from devbox.sandbox.boxenv import BOX_PATH, box_env, expand
from devbox.spec.load import parse_spec
from devbox.spec.model import Spec

WORKDIR = "/home/u/webapp"


def make_spec(env_table: str = "", name: str = "webapp") -> Spec:
    text = f'[box]\nname = "{name}"\nbase = "debian:bookworm"\n\n[env]\n{env_table}'
    return parse_spec(text, Path("/home/u/webapp/devbox.toml"))


def env_of(spec: Spec, host: dict[str, str] | None = None) -> dict[str, str]:
    return box_env(spec, host or {}, user="u", home="/home/u", shell="/bin/bash", workdir=WORKDIR)


def test_box_path_is_the_debian_default() -> None:
    assert (
        BOX_PATH == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/run/devbox/bin"
    )


def test_base_variables_with_an_empty_host() -> None:
    assert env_of(make_spec()) == {
        "PATH": BOX_PATH,
        "HOME": "/home/u",
        "USER": "u",
        "LOGNAME": "u",
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "DEVBOX_BOX": "webapp",
        "DEVBOX_PROJECT": WORKDIR,
        "TERM": "dumb",
    }


def test_parameters_are_used_not_the_host_values() -> None:
    host = {"HOME": "/root", "USER": "root", "SHELL": "/bin/zsh", "PATH": "/host/bin", "LANG": "x"}
    env = box_env(
        make_spec(name="other"), host, user="me", home="/h", shell="zsh", workdir="/workspace"
    )
    assert (env["HOME"], env["USER"], env["LOGNAME"], env["SHELL"]) == ("/h", "me", "me", "zsh")
    assert env["PATH"] == BOX_PATH
    assert env["LANG"] == "C.UTF-8"
    assert env["DEVBOX_BOX"] == "other"
    assert env["DEVBOX_PROJECT"] == "/workspace"


@pytest.mark.parametrize(
    "name",
    [
        "TERM", "COLORTERM", "NO_COLOR", "TZ",
        "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    ],
)  # fmt: skip
def test_pass_through_variables(name: str) -> None:
    assert env_of(make_spec(), {name: "value-of-" + name})[name] == "value-of-" + name


def test_other_host_variables_stay_out() -> None:
    host = {
        "HOST_SECRET": "hunter2",
        "AWS_SECRET_ACCESS_KEY": "k",
        "LD_PRELOAD": "/evil.so",
        "DISPLAY": ":0",
        "http_proxy": "http://proxy:3128",
        "TERM": "xterm-kitty",
    }
    env = env_of(make_spec(), host)
    assert "HOST_SECRET" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert "LD_PRELOAD" not in env
    assert "DISPLAY" not in env
    assert env["http_proxy"] == "http://proxy:3128"
    assert env["TERM"] == "xterm-kitty"


def test_env_table_is_applied_in_file_order_with_expansion() -> None:
    spec = make_spec(
        'A = "1"\nB = "${A}-2"\nPATH = "${DEVBOX_PROJECT}/bin:${PATH}"\nC = "${B}/${HOME}"\n'
    )
    env = env_of(spec)
    assert env["A"] == "1"
    assert env["B"] == "1-2"
    assert env["PATH"] == f"{WORKDIR}/bin:{BOX_PATH}"
    assert env["C"] == "1-2//home/u"
    assert list(env)[-3:] == ["A", "B", "C"]


def test_env_can_refer_to_passed_through_host_values() -> None:
    env = env_of(make_spec('PROXY = "${http_proxy}"\n'), {"http_proxy": "http://p:1"})
    assert env["PROXY"] == "http://p:1"


def test_env_cannot_read_host_values_that_are_not_passed_through() -> None:
    env = env_of(make_spec('LEAK = "[${HOST_SECRET}]"\n'), {"HOST_SECRET": "hunter2"})
    assert env["LEAK"] == "[]"


def test_unknown_and_later_variables_expand_to_empty() -> None:
    env = env_of(make_spec('X = "a${NOPE}b"\nY = "${Z}"\nZ = "z"\n'))
    assert env["X"] == "ab"
    assert env["Y"] == ""
    assert env["Z"] == "z"


def test_env_overrides_base_values() -> None:
    env = env_of(make_spec('LANG = "en_US.UTF-8"\nSHELL = "${SHELL}-x"\n'))
    assert env["LANG"] == "en_US.UTF-8"
    assert env["SHELL"] == "/bin/bash-x"


def test_later_values_see_the_prefixed_path() -> None:
    env = env_of(make_spec('PATH = "/a:${PATH}"\nOTHER = "${PATH}"\n'))
    assert env["PATH"] == "/a:" + BOX_PATH
    assert env["OTHER"] == "/a:" + BOX_PATH


def test_expand() -> None:
    env = {"A": "1", "B_2": "two"}
    assert expand("${A}${B_2}", env) == "1two"
    assert expand("x${MISSING}y", env) == "xy"
    assert expand("${A", env) == "${A"
    assert expand("$A and ${ A }", env) == "$A and ${ A }"
    assert expand("${A}", {}) == ""


def test_expansion_is_not_recursive() -> None:
    assert expand("${A}", {"A": "${B}", "B": "b"}) == "${B}"
