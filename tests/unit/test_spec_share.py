"""[share] in devbox.toml (devbox/spec/share.py): every key and its default, and every error
naming the file, the key path and the line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from devbox.errors import SpecError
from devbox.spec.load import parse_spec
from devbox.spec.model import Share, ShareBind, Spec

SPEC_PATH = Path("/home/u/src/webapp/devbox.toml")
BOX = '[box]\nbase = "debian:bookworm"\n'


def parse(text: str) -> Spec:
    return parse_spec(BOX + textwrap.dedent(text), SPEC_PATH)


def failure(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse(text)
    return info.value


def test_nothing_shared_by_default_but_the_git_config() -> None:
    assert parse("").share == Share() == Share(gitconfig=True)
    assert parse("[share]\n").share == Share()


def test_every_key() -> None:
    spec = parse(
        """\
        [share]
        display = true
        audio = true
        gpu = true
        ssh_agent = true
        gitconfig = false
        binds = [
          { host = "~/datasets", box = "/data" },
          { host = "/srv/cache/", box = "/data/cache/", mode = "rw" },
          { host = "~", box = "/host-home", mode = "ro" },
        ]
        """
    )
    assert spec.share == Share(
        display=True, audio=True, gpu=True, ssh_agent=True, gitconfig=False,
        binds=(
            ShareBind("~/datasets", "/data", "ro"),
            ShareBind("~", "/host-home", "ro"),
            ShareBind("/srv/cache/", "/data/cache", "rw"),  # below /data: after it
        ),
    )  # fmt: skip


def test_binds_as_an_array_of_tables() -> None:
    spec = parse('[[share.binds]]\nhost = "/srv"\nbox = "/srv"\nmode = "rw"\n')
    assert spec.share.binds == (ShareBind("/srv", "/srv", "rw"),)


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        ("display = 1", 4, "share.display: expected true or false, found an integer"),
        ('ssh_agent = "yes"', 4, "share.ssh_agent: expected true or false, found a string"),
        ("ssh-agent = true", 4, 'share.ssh-agent: unknown key; did you mean "ssh_agent"?'),
        ('binds = "~/d:/d"', 4, "share.binds: expected an array of tables"),
        ('binds = ["~/d"]', 4, "share.binds: expected an array of tables, but item 1 is a str"),
        ('binds = [{ host = "~/d" }]', 4, "share.binds: bind 1: missing box"),
        ('binds = [{ box = "/d" }]', 4, "share.binds: bind 1: missing host"),
        ('binds = [{ host = "~/d", box = "/d", made = "rw" }]', 4, 'key "made"; did you mean'),
        ('binds = [{ host = "~/d", box = "/d", mode = "wr" }]', 4, 'mode "wr" is not allowed'),
        ('binds = [{ host = "~/d", box = 3 }]', 4, "bind 1: box: expected a string, found an"),
        ('binds = [{ host = "d", box = "/d" }]', 4, 'host "d" is neither absolute nor under ~'),
        ('binds = [{ host = "~bob/d", box = "/d" }]', 4, "only your own home"),
        ('binds = [{ host = "/a", box = "d" }]', 4, 'box "d" is not an absolute path'),
        ('binds = [{ host = "/a", box = "/a/../etc" }]', 4, 'has a "." or ".." in it'),
        ('binds = [{ host = "/a", box = "/" }]', 4, "would hide the whole box"),
        ('binds = [{ host = "/a", box = "/etc" }]', 4, "would hide /etc/resolv.conf"),
        ('binds = [{ host = "/a", box = "/run/" }]', 4, "would hide /run,"),
        ('binds = [{ host = "/a", box = "/tmp" }]', 4, "would hide /tmp,"),
        ('binds = [{ host = "/a", box = "/dev/sda" }]', 4, "is below /dev, where nothing"),
        ('binds = [{ host = "/a", box = "/run/devbox/x" }]', 4, "is below /run/devbox,"),
        ('binds = [\n{ host = "/a", box = "/d" },\n{ host = "/b", box = "/d/" },\n]', 4,
         'bind 2: "/d" is already bound'),
    ],
)  # fmt: skip
def test_errors_name_the_key_and_line(body: str, line: int, says: str) -> None:
    error = failure("[share]\n" + body + "\n")
    assert error.message.startswith(f"{SPEC_PATH}:{line}: ")
    assert says in error.message


def test_gitconfig_false_with_the_hosts_home_is_an_error() -> None:
    error = failure('[shell]\nhome = "host"\n[share]\ngitconfig = false\n')
    assert "share.gitconfig: gitconfig = false hides nothing" in error.message
    assert error.allowed is not None and 'home = "isolated"' in error.allowed
    assert parse('[shell]\nhome = "host"\n[share]\ngitconfig = true\n').share == Share()


def test_control_characters_in_a_bind_are_shown_escaped() -> None:
    error = failure('[share]\nbinds = [{ host = "x\\u001b[31m", box = "/d" }]\n')
    assert "\x1b" not in error.render()
    assert "\\x1b[31m" in error.render()
