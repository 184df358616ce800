"""[box] network and ports in devbox.toml (devbox/spec/network.py): the defaults, every form a
port takes, and every error naming the file, the key path and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox.errors import SpecError
from devbox.spec.load import parse_spec
from devbox.spec.model import Spec

SPEC_PATH = Path("/home/u/src/webapp/devbox.toml")


def parse(keys: str) -> Spec:
    return parse_spec(f'[box]\nbase = "debian:bookworm"\n{keys}', SPEC_PATH)


def failure(keys: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse(keys)
    return info.value


def test_the_default_is_the_hosts_network_without_ports() -> None:
    spec = parse("")
    assert (spec.network, spec.ports) == ("host", ())


@pytest.mark.parametrize("network", ["host", "none", "private"])
def test_each_network(network: str) -> None:
    assert parse(f'network = "{network}"\n').network == network


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        ('["8000:8000"]', ((8000, 8000),)),
        ('["127.0.0.1:9000:90", "8080:80"]', ((9000, 90), (8080, 80))),
        ('["localhost:1:65535"]', ((1, 65535),)),
        ('[" 3000:3000/tcp "]', ((3000, 3000),)),
        ("[]", ()),
    ],
)
def test_port_forms(ports: str, expected: tuple[tuple[int, int], ...]) -> None:
    spec = parse(f'network = "private"\nports = {ports}\n')
    assert spec.ports == expected


def test_an_unknown_network_says_which_there_are() -> None:
    e = failure('network = "bridge"\n')
    assert (e.key, e.line) == ("box.network", 3)
    assert e.allowed == '"host" | "none" | "private"'
    assert failure('network = "nnone"\n').message.endswith('did you mean "none"?')


@pytest.mark.parametrize("network", ["host", "none"])
def test_ports_need_a_private_network(network: str) -> None:
    keys = f'network = "{network}"\n' if network != "host" else ""
    e = failure(f'{keys}ports = ["8000:8000"]\n')
    assert e.key == "box.ports" and e.line == (4 if keys else 3)
    assert "ports are published only from a private network" in e.message
    assert e.fix == 'network = "private"'


@pytest.mark.parametrize(
    ("port", "says"),
    [
        ("8000", "is not a port to publish"),
        ("1:2:3:4", "is not a port to publish"),
        ("0:80", '"0" is not a port (1-65535)'),
        ("80:65536", '"65536" is not a port (1-65535)'),
        ("http:80", '"http" is not a port'),
        ("0.0.0.0:80:80", "published on the host's loopback (127.0.0.1) only"),
        ("192.0.2.1:80:80", "published on the host's loopback (127.0.0.1) only"),
        ("53:53/udp", "only TCP ports are published"),
        ("\x1b[2J:80", "is not a port"),
    ],
)
def test_bad_ports(port: str, says: str) -> None:
    literal = port.replace("\x1b", "\\u001b")  # as TOML escapes it
    e = failure(f'network = "private"\nports = ["{literal}"]\n')
    assert (e.key, e.line) == ("box.ports", 4)
    assert says in e.message, e.message
    assert e.allowed is not None and "HOST:BOX" in e.allowed
    assert "\x1b" not in e.render()


def test_a_host_port_published_twice() -> None:
    e = failure('network = "private"\nports = ["8000:80", "127.0.0.1:8000:81"]\n')
    assert "host port 8000 is published twice" in e.message


@pytest.mark.parametrize(
    ("keys", "key", "says"),
    [
        ("network = false\n", "box.network", "expected a string, found a boolean"),
        ('network = "private"\nports = "8000:80"\n', "box.ports", "expected an array of strings"),
        ('network = "private"\nports = [8000]\n', "box.ports", "item 1 is an integer"),
    ],
)
def test_wrong_types(keys: str, key: str, says: str) -> None:
    e = failure(keys)
    assert e.key == key and says in e.message, e.message


def test_network_in_another_table_belongs_in_box() -> None:
    e = parse_error('[box]\nbase = "debian:bookworm"\n[shell]\nnetwork = "none"\n')
    assert e.key == "shell.network" and "network belongs in [box]" in e.message


def parse_error(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(text, SPEC_PATH)
    return info.value
