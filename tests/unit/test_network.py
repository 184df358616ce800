"""A box's network on the host's side (devbox/sandbox/network.py, hostfwd.py): what the
supervisor and each session are given per network, what makes a running box another one, what
the launcher checks, the errors that say what to install, and the port publisher against a unix
socket that answers as slirp4netns's API does. The real thing: tests/integration/test_network.py
and tests/security/test_network.py."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox.errors import DevboxError, HostError
from devbox.sandbox import box as box_
from devbox.sandbox import enter, host, hostfwd, network
from devbox.sandbox.argv import bwrap_argv, join_argv, unshare_argv
from devbox.sandbox.box import Box
from devbox.sandbox.host import Tier, UserNs
from devbox.spec.load import parse_spec
from devbox.store.paths import ProjectPaths, Store

PROJECT = Path("/nonexistent/net/proj")
PRIVATE = 'network = "private"\nports = ["8000:8000", "127.0.0.1:9000:90"]\n'


def _box(keys: str = "", tier: Tier | None = None) -> Box:
    spec = parse_spec(f'[box]\nbase = "debian:bookworm"\n{keys}', PROJECT / "devbox.toml")
    return Box(spec, Store(Path("/nonexistent/store")), ("a" * 64,), tier or Tier(1, 0, 0, "root"))


@pytest.fixture
def tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(box_, "user", lambda: ("alice", "/home/alice", "/bin/bash"))


def test_what_the_supervisor_is_told_per_network() -> None:
    assert network.net_id(_box().spec) == ""
    assert network.net_id(_box('network = "none"\n').spec) == "none"
    assert network.net_id(_box(PRIVATE).spec) == "private 127.0.0.1:8000:8000 127.0.0.1:9000:90"
    assert network.net_id(_box('network = "private"\n').spec) == "private"
    assert [network.own(_box(k).spec) for k in ("", 'network = "none"\n', PRIVATE)] == [
        False,
        True,
        True,
    ]


def test_namespaces_to_make_and_to_join() -> None:
    userns = UserNs(("--user", "--map-root-user"), ("--user", "--preserve-credentials"))
    assert unshare_argv("unshare", userns, net=True) == [
        "unshare", "--user", "--map-root-user", "--mount", "--propagation", "private", "--net",
        "--",
    ]  # fmt: skip
    assert join_argv("nsenter", 7, userns, net=True) == [
        "nsenter", "--target=7", "--user", "--preserve-credentials", "--mount", "--net", "--",
    ]  # fmt: skip
    assert join_argv("nsenter", 7, None) == ["nsenter", "--target=7", "--mount", "--"]


@pytest.mark.usefixtures("tools")
@pytest.mark.parametrize(("keys", "net"), [("", False), ('network = "none"\n', True)])
def test_an_entry_joins_the_boxs_network_when_it_has_its_own(keys: str, net: bool) -> None:
    entry = enter.plan_entry(_box(keys), ["true"], cwd=str(PROJECT), root=False, host_env={})
    assert entry.net is net
    join = entry.join("nsenter", 42, None)
    assert join == ["nsenter", "--target=42", "--mount", *(["--net"] if net else []), "--"]
    assert entry.session.resolv_conf == "/etc/resolv.conf"


@pytest.mark.usefixtures("tools")
def test_a_private_box_sees_devboxs_resolv_conf() -> None:
    box = _box(PRIVATE)
    entry = enter.plan_entry(box, ["true"], cwd=str(PROJECT), root=False, host_env={})
    argv = bwrap_argv("bwrap", entry.session)
    i = argv.index("/etc/resolv.conf")
    assert argv[i - 2 : i + 1] == ["--ro-bind-try", str(box.paths.resolv_conf), "/etc/resolv.conf"]
    assert box.paths.resolv_conf == box.paths.run / "resolv.conf"
    # the supervisor writes it: the same forwarder as network.DNS
    from devbox.sandbox.supervisor import SUPERVISOR_SCRIPT

    assert f"printf 'nameserver {network.DNS}\\n' > \"$run/resolv.conf\"" in SUPERVISOR_SCRIPT
    assert '> "$run/network"' in SUPERVISOR_SCRIPT and box.paths.network.name == "network"


@pytest.mark.usefixtures("tools")
def test_the_running_box_is_another_one_for_another_network_or_ports() -> None:
    ids = {k: box_.stack_ids(_box(k)) for k in ("", 'network = "none"\n', PRIVATE)}
    ids["other-ports"] = box_.stack_ids(_box('network = "private"\nports = ["8001:8000"]\n'))
    assert len(set(ids.values())) == 4


@pytest.mark.usefixtures("tools")
def test_the_supervisor_of_a_private_box_runs_under_the_network_script() -> None:
    box = _box(PRIVATE)
    argv = network.supervisor_argv(box.spec, box.paths, ["unshare", "--net", "--", "sh"])
    assert argv[:4] == ["/bin/sh", "-c", network.TEMPLATE, "devbox-net"]
    assert argv[4:9] == [
        str(box.paths.run), "/usr/bin/slirp4netns", network.python(), network.HOSTFWD,
        "127.0.0.1:8000:8000 127.0.0.1:9000:90",
    ]  # fmt: skip
    assert argv[9:] == ["unshare", "--net", "--", "sh"]
    assert Path(network.HOSTFWD).is_file()
    for keys in ("", 'network = "none"\n'):
        plain = _box(keys)
        assert network.supervisor_argv(plain.spec, plain.paths, ["x"]) == ["x"]


@pytest.mark.usefixtures("tools")
def test_what_the_host_lacks_is_said_with_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "which", lambda name: None)
    for keys, says, fix in (
        (PRIVATE, "slirp4netns is not installed", "sudo apt-get install slirp4netns"),
        ('network = "none"\n', "`ip` is not installed", "sudo apt-get install iproute2"),
    ):
        box = _box(keys)
        with pytest.raises(HostError) as info:
            network.supervisor_argv(box.spec, box.paths, ["x"])
        assert says in info.value.message and fix in (info.value.hint or "")
    assert network.supervisor_argv(_box().spec, _box().paths, ["x"]) == ["x"]  # needs neither
    assert network.doctor(1) == [
        ("slirp4netns", False, 'not installed (only network = "private" needs it)',
         "sudo apt-get install slirp4netns"),
    ]  # fmt: skip


@pytest.mark.usefixtures("tools")
def test_doctor_checks_the_stack_the_device_users_need_and_ip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    there = ("slirp4netns", True, '/usr/bin/slirp4netns (for network = "private")', "")
    assert network.doctor(1) == [there]
    monkeypatch.setattr("devbox.sandbox.network.os.access", lambda path, mode: False)
    monkeypatch.setattr(host, "which", lambda name: None if name == "ip" else f"/bin/{name}")
    names = [(name, ok) for name, ok, _, _ in network.doctor(3)]
    assert names == [("slirp4netns", True), ("/dev/net/tun", False), ("ip", False)]
    assert "sudo chmod 0666 /dev/net/tun" in network.doctor(2)[1][3]


def test_a_tun_device_users_cannot_open_is_explained() -> None:
    log = 'open("/dev/net/tun"): Permission denied\nchild failed(1)\n'
    e = network.failure(log)
    assert e is not None and "/dev/net/tun" in e.message
    assert "sudo chmod 0666 /dev/net/tun" in (e.hint or "")
    assert network.failure("mount: permission denied") is None


def test_the_launcher_checks_the_running_boxs_network(tmp_path: Path) -> None:
    p = ProjectPaths(tmp_path)
    assert network.launcher_check(_box().spec, p) == ""
    line = network.launcher_check(_box(PRIVATE).spec, p)
    assert line == (
        'l=; { IFS= read -r l < "$P"/run/network; } 2>/dev/null; '
        '[ "$l" = \'private 127.0.0.1:8000:8000 127.0.0.1:9000:90\' ] || handover "$@"\n'
    )


def test_a_box_in_use_on_another_network_is_not_joined(tmp_path: Path) -> None:
    p = ProjectPaths(tmp_path)
    p.run.mkdir()
    p.network.write_text("\n")  # as the supervisor writes it for the host's network
    network.check_running(_box().spec, p)
    with pytest.raises(DevboxError) as info:
        network.check_running(_box('network = "none"\n').spec, p)
    assert "running with the host's network" in info.value.message
    assert 'now asks for network = "none"' in info.value.message
    p.network.write_text("private 127.0.0.1:8000:8000 127.0.0.1:9000:90\n")
    network.check_running(_box(PRIVATE).spec, p)
    with pytest.raises(DevboxError) as info:
        network.check_running(_box('network = "private"\n').spec, p)
    assert 'running with network = "private", ports 127.0.0.1:8000:8000' in info.value.message


def test_status_says_what_is_in_force(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network, "stack", lambda: "/usr/bin/slirp4netns")
    assert network.in_force(_box().spec) == {"network": "host"}
    assert network.in_force(_box(PRIVATE).spec) == {
        "network": "private",
        "ports": [{"host": "127.0.0.1:8000", "box": 8000}, {"host": "127.0.0.1:9000", "box": 90}],
        "stack": "slirp4netns",
    }
    assert network.describe(_box('network = "none"\n').spec) == "none (its own loopback only)"
    assert network.describe(_box(PRIVATE).spec) == (
        "private (outbound through slirp4netns); published: 127.0.0.1:8000 -> 8000, "
        "127.0.0.1:9000 -> 90"
    )


# -- the port publisher ----------------------------------------------------------------------------


@contextlib.contextmanager
def api(tmp_path: Path, answers: list[bytes]) -> Iterator[tuple[str, list[object]]]:
    """A unix socket answering each connection with the next of `answers` (as slirp4netns's API
    does: one request, one answer); yields its path and the requests it got."""
    path = str(tmp_path / "api.sock")
    got: list[object] = []
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)

    def serve() -> None:
        for answer in answers:
            conn, _ = srv.accept()
            with conn:
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                got.append(json.loads(data))
                conn.sendall(answer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield path, got
    finally:
        t.join(5)
        srv.close()


def test_the_publisher_asks_for_each_port(tmp_path: Path) -> None:
    ok = b'{"return": {"id": 1}}'
    with api(tmp_path, [ok, ok]) as (path, got):
        assert hostfwd.main([path, "127.0.0.1:8000:80", "127.0.0.1:9000:90"]) == 0
    assert got == [
        {"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_addr": "127.0.0.1",
                                                 "host_port": p, "guest_port": b}}
        for p, b in ((8000, 80), (9000, 90))
    ]  # fmt: skip


def test_the_publisher_says_which_port_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = b'{"error": {"desc": "bad request: add_hostfwd: slirp_add_hostfwd failed\\u001b[2J"}}'
    with api(tmp_path, [bad]) as (path, _):
        assert hostfwd.main([path, "127.0.0.1:8000:80"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("devbox: cannot publish the box's port 80 on 127.0.0.1:8000 (bad request")
    assert "is that port in use on the host?" in err and "\x1b" not in err
    assert hostfwd.main([str(tmp_path / "nothing.sock"), "127.0.0.1:8000:80"]) == 1
    assert "slirp4netns's API socket" in capsys.readouterr().err
