"""[box] network in every tier (root, and created users with and without a subuid range): a box
with network = "none" reaches nothing of the host (its loopback servers, its other addresses,
its abstract unix sockets, which a box on the host's network does reach), a private box reaches
out through slirp4netns only (the host's loopback servers at 10.0.2.2, by design; never its
abstract unix sockets or its 127.0.0.1 directly, even as root in the box), a published port
is on the host's loopback only, two sessions of a box share its loopback, and a box running on
one network is never joined by a session whose spec asks for another."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

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
from tests.security.actors import Actor

pytestmark = pytest.mark.integration

BOX = '[box]\nname = "{name}"\nbase = "debian:bookworm"\n{keys}'
# perl (in minbase): does a connection to the abstract unix socket named $ARGV[0] succeed?
ABSTRACT = (
    "use Socket; socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die;"
    ' print connect($s, pack_sockaddr_un("\\0" . shift)) ? "reached\\n" : "unreachable\\n"'
)


# how a private box might reach a server on the host's loopback: slirp4netns's gateway, the
# box's own loopback
HOST_LOOPBACK = ("10.0.2.2", "127.0.0.1")


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with host_server() as port:
        yield port


@pytest.fixture(scope="module")
def loopback_server() -> Iterator[int]:
    with host_server("127.0.0.1") as port:
        yield port


@pytest.fixture(scope="module")
def abstract() -> Iterator[str]:
    """An abstract unix socket listening on the host (like X11's or D-Bus's): per network
    namespace, so only a box on the host's network finds it."""
    name = f"devbox-test-{os.getpid()}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0" + name)
    s.listen(8)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                s.accept()[0].close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield name
    finally:
        s.close()


def project(actor: Actor, name: str, keys: str = "") -> Path:
    return actor.project(name, BOX.format(name=name, keys=keys), FILES)


def run(actor: Actor, where: Path, *argv: str, root: bool = False) -> list[str]:
    r = actor.devbox("run", *(["--root"] if root else []), "--", *argv, cwd=where)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.splitlines()


def background(actor: Actor, where: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        actor.argv(actor.python(), "-m", "devbox", "run", "--", *argv), cwd=where,
        env=actor.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_box_without_the_hosts_network_reaches_the_host_only_through_slirp4netns(
    actor: Actor, server: int, loopback_server: int, abstract: str
) -> None:
    here = host_address()
    at_host = [(here, server)] if here else []
    on_host = project(actor, "net-host")
    assert run(actor, on_host, *reaches(("127.0.0.1", server))) == [OK]
    assert run(actor, on_host, "perl", "-e", ABSTRACT, abstract) == ["reached"]

    none = project(actor, "net-none", 'network = "none"\n')
    targets = [("127.0.0.1", server), ("127.0.0.1", loopback_server), *at_host]
    assert run(actor, none, *reaches(*targets)) == ["unreachable"] * len(targets)
    assert run(actor, none, "perl", "-e", ABSTRACT, abstract) == ["unreachable"]

    private = project(actor, "net-private", 'network = "private"\n')
    assert run(actor, private, *reaches(*at_host)) == [OK] * len(at_host)  # out, to the host
    for root in (False, True):  # root in the box (every capability over it, rootless) too
        lines = run(
            actor, private, *reaches(*[(a, loopback_server) for a in HOST_LOOPBACK]), root=root
        )
        # the host's loopback through slirp4netns's gateway; its own 127.0.0.1 is the box's
        assert lines == [OK, "unreachable"], f"root={root}"
    assert run(actor, private, "perl", "-e", ABSTRACT, abstract) == ["unreachable"]


def test_a_published_port_is_on_the_hosts_loopback_only(actor: Actor) -> None:
    port = free_port()
    where = project(actor, "net-published", f'network = "private"\nports = ["{port}:8000"]\n')
    box_server = background(actor, where, "perl", "greeter.pl", "0.0.0.0:8000")
    try:
        assert greeting(port) == GREETING
        here = host_address()
        assert here is None or refused(port, here)
    finally:
        box_server.kill()
        box_server.wait()


def test_two_sessions_of_a_none_box_share_its_loopback(actor: Actor) -> None:
    port = free_port()
    where = project(actor, "net-shared", 'network = "none"\n')
    first = background(actor, where, "perl", "greeter.pl", f"127.0.0.1:{port}")
    try:
        assert run(actor, where, *greeted(port)) == [GREETING]
        assert refused(port, "127.0.0.1")  # the host's loopback is another one
    finally:
        first.kill()
        first.wait()


def test_a_box_in_use_is_not_joined_on_another_network(actor: Actor) -> None:
    """The spec now says network = "none" while a session holds the box on the host's
    network: a new session must not run on the host's network (nor fail obscurely)."""
    where = project(actor, "net-change")
    holder = background(actor, where, "sh", "-c", "echo inside; exec sleep 60")
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "inside\n"
        none = BOX.format(name="net-change", keys='network = "none"\n')
        (where / "devbox.toml").write_text(none)
        actor.own(where)
        for way in ("python", "launcher"):  # the Python path, then the launcher it wrote
            r = actor.devbox("run", "--", "cat", "/proc/net/dev", cwd=where)
            assert holder.poll() is None, holder.communicate()
            assert r.returncode == 1, f"{way}: {r.stdout}{r.stderr}"
            said = "running with the host's network, and devbox.toml now asks for network"
            assert said in r.stderr
            assert r.stdout == ""
    finally:
        holder.kill()
        holder.wait()
