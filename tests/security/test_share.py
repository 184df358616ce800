"""[share] against a hostile box, in every tier: a bind never shows devbox's store or state to a
box (a host path linked there is refused, also when it becomes a link after the launcher was
written), a read-only bind stays read-only for the box's processes, and the display's cookie the
box gets is that display's alone, a copy, never the user's file."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox.sandbox import xauth
from devbox.store.paths import launcher_path
from tests.security.actors import SPEC, Actor, changed

BINDS = '\n[share]\nbinds = [{ host = "~/shared", box = "/shared" }]\n'


def bind_project(actor: Actor, name: str) -> Path:
    return actor.project(name, SPEC.format(name=name) + BINDS)


def _dir(actor: Actor, path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        (path / name).write_text(text)
    actor.own(path)
    return path


def _link(actor: Actor, link: Path, target: Path) -> None:
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        shutil.rmtree(link)
    link.symlink_to(target)
    os.lchown(link, actor.uid, actor.gid)


def test_a_bind_linked_into_devboxs_store_or_state_is_refused(actor: Actor) -> None:
    p = bind_project(actor, "bind-into-store")
    store = actor.store()
    state = store / "state" if actor.tier == 1 else actor.home / ".local/state/devbox"
    shared = actor.home / "shared"
    targets = [store / "layers", store / "projects", store, state]
    if actor.tier > 1:
        targets.append(actor.home)  # it holds the store (~/.local/share/devbox)
    for target in targets:
        _link(actor, shared, target)
        r = actor.devbox("run", "--", "ls", "/shared", cwd=p)
        assert r.returncode == 1, f"{target}: {r.stdout}{r.stderr}"
        assert "devbox: error: [share] binds: ~/shared (that is " in r.stderr, r.stderr
        assert re.search(r" (is inside|holds) devbox's (store|state) \(", r.stderr), r.stderr
        assert not r.stdout
    shared.unlink()


def test_a_bind_that_becomes_a_link_after_the_launcher_was_written_is_refused(
    actor: Actor,
) -> None:
    """A box that can write the home (`[shell] home = "host"`) swaps the bound directory for a
    link to the store: the launcher notices, and the Python path refuses it."""
    p = bind_project(actor, "bind-swapped")
    shared = actor.home / "shared"
    if shared.is_symlink():
        shared.unlink()
    _dir(actor, shared, {"mine.txt": "mine\n"})
    r = actor.devbox("run", "--", "cat", "/shared/mine.txt", cwd=p)
    assert (r.returncode, r.stdout) == (0, "mine\n"), r.stderr
    assert launcher_path(p, actor.store()).is_file()
    _link(actor, shared, actor.store() / "layers")
    r = actor.sh(f"{launcher_path(p, actor.store())} ls /shared", cwd=p)
    assert r.returncode == 1 and "devbox's store" in r.stderr, r.stdout + r.stderr
    shared.unlink()


def test_a_read_only_bind_cannot_be_written_from_the_box(actor: Actor) -> None:
    p = bind_project(actor, "bind-ro")
    shared = actor.home / "shared"
    if shared.is_symlink():
        shared.unlink()
    _dir(actor, shared, {"data.csv": "1,2\n"})
    attacks = [
        "echo x > /shared/data.csv",
        "echo x > /shared/new",
        "rm -f /shared/data.csv",
        "chmod 777 /shared",
        "mv /shared/data.csv /shared/moved",
        "mount -o remount,rw /shared",
    ]
    for attack in attacks:
        r = actor.devbox("run", "--", "sh", "-c", f"{attack} && test -w /shared/data.csv", cwd=p)
        assert r.returncode != 0, f"{attack}: {r.stdout}{r.stderr}"
    if actor.tier == 1:  # root without capabilities: no remount either
        r = actor.devbox("run", "--root", "--", "sh", "-c", attacks[0], cwd=p)
        assert r.returncode != 0 and "Read-only file system" in r.stderr, r.stdout + r.stderr
    assert sorted(os.listdir(shared)) == ["data.csv"]
    assert (shared / "data.csv").read_text() == "1,2\n"
    assert (shared.stat().st_mode & 0o777) != 0o777


def _cookie_entry(display: str, cookie: bytes, hostname: str) -> bytes:
    entry = xauth.Entry(
        xauth.FAMILY_LOCAL, hostname.encode(), display.encode(), b"MIT-MAGIC-COOKIE-1", cookie
    )
    return entry.encode()


def test_the_box_gets_a_copy_of_its_displays_cookie_alone(actor: Actor) -> None:
    spec = SPEC.format(name="cookie") + "\n[share]\ndisplay = true\n"
    p = actor.project("cookie", spec)
    host = os.uname().nodename
    mine, theirs = b"M" * 16, b"T" * 16
    auth = actor.home / ".Xauthority"
    auth.write_bytes(_cookie_entry("94", mine, host) + _cookie_entry("95", theirs, host))
    os.lchown(auth, actor.uid, actor.gid)
    auth.chmod(0o600)
    script = (
        'echo "$XAUTHORITY"; od -An -c "$XAUTHORITY" | tr -d " \\n"; echo; '
        f"ls -a {actor.home} 2>&1 | grep -c Xauthority || true"
    )
    r = actor.devbox("run", "--", "sh", "-c", script, cwd=p, env={"DISPLAY": ":94"})
    assert r.returncode == 0, r.stdout + r.stderr
    where, dump, seen = r.stdout.splitlines()
    assert where == "/run/devbox/Xauthority.94"
    assert "MMMMMMMMMMMMMMMM" in dump and "T" * 16 not in dump, dump
    assert seen == "0", "the user's file itself is not in the box"
    # root in a box in tiers 2 and 3 can remount the rc dir writable: what it writes there is
    # replaced at the next entry, and never reaches the user's file
    r = actor.devbox("run", "--root", "--", "sh", "-c",
                     "mount -o remount,rw /run/devbox 2>/dev/null; "
                     "echo planted > /run/devbox/Xauthority.94 || true", cwd=p,
                     env={"DISPLAY": ":94"})  # fmt: skip
    dump = 'od -An -c /run/devbox/Xauthority.94 | tr -d " \\n"'
    r = actor.devbox("run", "--", "sh", "-c", dump, cwd=p, env={"DISPLAY": ":94"})
    assert "planted" not in r.stdout and mine.decode() in r.stdout, r.stdout + r.stderr
    assert auth.read_bytes().startswith(_cookie_entry("94", mine, host))


def test_an_xauthority_file_a_box_can_write_is_refused(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    spec = SPEC.format(name="cookie-in-project") + "\n[share]\ndisplay = true\n"
    p = actor.project("cookie-in-project", spec)
    planted = p / "Xauthority"
    _link(actor, planted, actor.home / ".ssh/id_ed25519")
    r = actor.devbox("run", "--", "true", cwd=p, env={"DISPLAY": ":94", "XAUTHORITY": str(planted)})
    assert r.returncode == 1, r.stdout + r.stderr
    assert "the Xauthority file" in r.stderr and "which a box can write" in r.stderr
    assert changed(sentinels) == []


# perl-base is in every Debian box: an X11 connection setup with the cookie the box has (the
# server's first byte: 1 accepted, 0 refused) and an ssh agent's list of identities, without
# installing a client in the box
X11_HELLO = r"""
use IO::Socket::UNIX;
my $d = "";
if (open(my $f, "<:raw", $ENV{XAUTHORITY})) { local $/; $d = <$f> // ""; }
my ($name, $data) = ("", "");
if (length $d) {  # the first entry: family, then four fields, each length-prefixed
  my ($o, @f) = (2);
  for (1..4) {
    my $l = unpack("n", substr($d, $o, 2));
    push @f, substr($d, $o + 2, $l);
    $o += 2 + $l;
  }
  ($name, $data) = @f[2, 3];
}
my ($n) = $ENV{DISPLAY} =~ /^:(\d+)/ or die "DISPLAY?\n";
my $s = IO::Socket::UNIX->new(Peer => "/tmp/.X11-unix/X$n") or die "connect: $!\n";
sub pad { "\0" x ((4 - length($_[0]) % 4) % 4) }
print $s pack("A1 x v v v v x2", "l", 11, 0, length $name, length $data),
  $name, pad($name), $data, pad($data);
read($s, my $r, 1) == 1 or die "no answer\n";
print ord($r) == 1 ? "accepted\n" : "refused\n";
"""
AGENT_LIST = r"""
use IO::Socket::UNIX;
my $s = IO::Socket::UNIX->new(Peer => $ENV{SSH_AUTH_SOCK}) or die "connect: $!\n";
print $s pack("N C", 1, 11);
read($s, my $h, 9) == 9 or die "no answer\n";
my ($len, $type, $count) = unpack("N C N", $h);
print "type $type keys $count\n";
"""


@pytest.fixture(scope="module")
def xvfb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes]]:
    """An X server on a free display that wants its cookie: (its number, the cookie)."""
    if not shutil.which("Xvfb"):
        pytest.fail("no Xvfb: SETUP_FOR_TESTS=1 bash scripts/setup.sh installs it")
    n = next(n for n in range(120, 250) if not os.path.exists(f"/tmp/.X{n}-lock"))
    cookie = os.urandom(16)
    auth = tmp_path_factory.mktemp("xvfb") / "auth"
    auth.write_bytes(_cookie_entry(str(n), cookie, os.uname().nodename))
    server = subprocess.Popen(
        ["Xvfb", f":{n}", "-auth", str(auth), "-screen", "0", "320x200x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not os.path.exists(f"/tmp/.X11-unix/X{n}"):
        assert server.poll() is None and time.monotonic() < deadline, "Xvfb never came up"
        time.sleep(0.1)
    yield str(n), cookie
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=10)


def test_the_displays_cookie_lets_the_box_in_and_another_displays_does_not(
    actor: Actor, xvfb: tuple[str, bytes]
) -> None:
    n, cookie = xvfb
    p = actor.project("x11", SPEC.format(name="x11") + "\n[share]\ndisplay = true\n",
                      files={"hello.pl": X11_HELLO})  # fmt: skip
    host = os.uname().nodename
    files = {
        "own": _cookie_entry(n, cookie, host) + _cookie_entry("7", b"S" * 16, host),
        "other": _cookie_entry("7", cookie, host),  # this cookie, but another display's entry
    }
    seen = {}
    for name, data in files.items():
        auth = actor.home / f"Xauthority-{name}"
        auth.write_bytes(data)
        os.lchown(auth, actor.uid, actor.gid)
        env = {"DISPLAY": f":{n}", "XAUTHORITY": str(auth)}
        r = actor.devbox("run", "--", "perl", "hello.pl", cwd=p, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        seen[name] = r.stdout
    assert seen == {"own": "accepted\n", "other": "refused\n"}


def test_the_ssh_agent_socket_alone_reaches_the_box(actor: Actor) -> None:
    """The box can ask the agent to sign (it lists its key), and sees neither the agent's
    directory nor anything else of the user's."""
    spec = SPEC.format(name="agent") + "\n[share]\nssh_agent = true\n"
    p = actor.project("agent", spec, files={"list.pl": AGENT_LIST})
    agent_dir = actor.home / "agent-dir"
    if agent_dir.exists():
        shutil.rmtree(agent_dir)
    agent_dir.mkdir(mode=0o700)
    actor.own(agent_dir)
    sock = agent_dir / "agent.sock"
    agent = subprocess.Popen(actor.argv("ssh-agent", "-D", "-a", str(sock)),
                             stdout=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert agent.poll() is None and time.monotonic() < deadline, "no ssh-agent"
            time.sleep(0.1)
        env = {"SSH_AUTH_SOCK": str(sock)}
        key = agent_dir / "id_test"
        r = actor.sh(f"ssh-keygen -q -t ed25519 -N '' -f {key} && ssh-add -q {key}", cwd=p, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        r = actor.devbox("run", "--", "sh", "-c",
                         f"perl list.pl; ls -A /run/devbox-host; ls {agent_dir} || true",
                         cwd=p, env=env)  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout == "type 12 keys 1\nssh-agent\n", r.stdout + r.stderr
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=10)
