"""[box] network as root (tier 1), for real: a server on the host (Python's http.server, on every
address, the loopback included) is reached from a box on the host's network, from no box with
network = "none" (while the host reaches it), and from a private box through slirp4netns (at the
host's own address, and one on the host's loopback only at 10.0.2.2); a server in a private box
on a published port is reached from the host's loopback; two sessions, and a service, of a
`none` box share its loopback. The created users' tiers: tests/security/test_network.py."""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Devbox, MakeProject, launch
from tests.integration.network import (
    FILES,
    GREETING,
    OK,
    free_port,
    greeted,
    greeting,
    host_address,
    host_server,
    reaches,
    refused,
)

pytestmark = pytest.mark.integration

BOX = '[box]\nname = "{name}"\nbase = "debian:bookworm"\n'


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with host_server() as port:
        yield port


@pytest.fixture(scope="module")
def loopback_server() -> Iterator[int]:
    with host_server("127.0.0.1") as port:
        yield port


def project(make: MakeProject, name: str, keys: str = "", more: str = "") -> Path:
    return make(name, BOX.format(name=name) + keys + more, FILES)


def run(devbox: Devbox, where: Path, *argv: str) -> list[str]:
    r = devbox("run", "--", *argv, cwd=where)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def from_the_host(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        return f"HTTP/1.0 {r.status} OK"


def test_the_hosts_network_none_and_private(
    devbox: Devbox, make_project: MakeProject, server: int, loopback_server: int
) -> None:
    here = host_address()
    at_host = [(here, server)] if here else []
    on_host = project(make_project, "on-host")
    assert run(devbox, on_host, *reaches(("127.0.0.1", server))) == [OK]

    none = project(make_project, "none", 'network = "none"\n')
    targets = [("127.0.0.1", server), ("127.0.0.1", loopback_server), *at_host]
    assert run(devbox, none, *reaches(*targets)) == ["unreachable"] * len(targets)
    assert from_the_host(server) == OK  # while the host reaches it
    assert from_the_host(loopback_server) == OK
    ifaces = [ln.split(":")[0].strip() for ln in run(devbox, none, "cat", "/proc/net/dev")[2:]]
    assert ifaces == ["lo"]

    private = project(make_project, "private", 'network = "private"\n')
    # out through slirp4netns: to the host's own address, and to a server listening on the
    # host's loopback only at 10.0.2.2; the box's own 127.0.0.1 is not the host's
    inbox = [("10.0.2.2", loopback_server), ("127.0.0.1", loopback_server), *at_host]
    assert run(devbox, private, *reaches(*inbox)) == [OK, "unreachable", *([OK] if here else [])]
    assert run(devbox, private, "cat", "/etc/resolv.conf") == ["nameserver 10.0.2.3"]
    found = devbox("run", "--", "getent", "hosts", "deb.debian.org", cwd=private)
    assert found.returncode == 0 and found.stdout.strip(), found.stderr  # its DNS forwarder


def test_a_published_port_reaches_a_server_in_a_private_box(
    devbox: Devbox, make_project: MakeProject
) -> None:
    port = free_port()
    keys = f'network = "private"\nports = ["{port}:8000"]\n'
    where = project(make_project, "published", keys)
    box_server = devbox.popen("run", "--", "perl", "greeter.pl", "0.0.0.0:8000", cwd=where,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert greeting(port) == GREETING
        here = host_address()
        assert here is None or refused(port, here)  # on the host's loopback only
        r = launch(devbox, where, *greeted(8000))  # the launcher joins the same network
        assert r.stdout.strip() == GREETING, r.stderr
    finally:
        box_server.kill()
        box_server.wait()


def test_sessions_and_services_of_a_none_box_share_its_loopback(
    devbox: Devbox, make_project: MakeProject
) -> None:
    port, other = free_port(), free_port()
    service = (
        f'[services.greeter]\ncommand = "exec perl greeter.pl 127.0.0.1:{port}"\n'
        f'ready = "tcp:{port}"\nready_timeout = 30\n'
    )
    where = project(make_project, "shared", 'network = "none"\n', service)
    # the same port taken on the host's loopback: not the box's, so no reason to refuse
    with socket.create_server(("127.0.0.1", port)):
        try:
            r = devbox("up", cwd=where)
            assert r.returncode == 0, r.stdout + r.stderr  # ready: checked in the box
            assert r.stdout.startswith(f"greeter: ready on 127.0.0.1:{port} in the box")
            assert run(devbox, where, *greeted(port)) == [GREETING]
        finally:
            devbox("down", cwd=where)
    first = devbox.popen("run", "--", "perl", "greeter.pl", f"127.0.0.1:{other}", cwd=where,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        r = launch(devbox, where, *greeted(other))  # another session, through the launcher
        assert r.stdout.strip() == GREETING, r.stderr
    finally:
        first.kill()
        first.wait()
