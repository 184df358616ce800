"""A session is a boundary: nothing in a box pushes input into the host's terminal (TIOCSTI,
TIOCLINUX), changes the host's hostname or shares its IPC, keeps root's capabilities as the
host's root, or sees more of the host than the CA bundle it is given."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pexpect
import pytest

from devbox.store.paths import launcher_path
from tests.security.actors import Actor, spawn
from tests.terminal import Terminal, box_prompt

pytestmark = pytest.mark.integration

FRONT = Path(__file__).resolve().parents[2] / "devbox" / "front.sh"
# perl is in minbase: ioctl(STDIN, REQUEST, one char at a time of TEXT) ("\n" for newlines)
STI = r"""my ($req, $text) = @ARGV;
$text =~ s/\\n/\n/g;
for my $c (split //, $text) {
  my $b = $c;
  ioctl(STDIN, hex($req), $b) or do { print "ioctl $req: $!\n"; exit 1 };
}
print "ioctl $req: done\n";
"""
SPEC_SETUP = """\
[box]
name = "{name}"
base = "debian:bookworm"

[setup]
run = ["{step}"]
"""
EPERM = os.strerror(1)  # "Operation not permitted": the filter's answer, not the kernel's
CAP_SYS_ADMIN = 21


def _built(actor: Actor, name: str, files: dict[str, str] | None = None) -> Path:
    p = actor.project(name, files=files)
    r = actor.devbox("build", cwd=p)
    assert r.returncode == 0, r.stdout + r.stderr
    return p


def test_a_shell_cannot_push_input_into_the_host_terminal(actor: Actor) -> None:
    """From `devbox shell`, inject "exit" and then a command: without the filter the box's shell
    exits on the first and the host's shell, reading the same terminal, gets the second."""
    p = _built(actor, "sti-shell", {"sti.pl": STI})
    host_sh = (
        '"$1" -m devbox shell; echo AFTER-EXIT; '
        'while IFS= read -r line && [ "$line" != clean ]; do echo "HOST-READ:[$line]"; done; '
        "echo HOST-DONE"
    )
    child = spawn(actor, ["/bin/sh", "-c", host_sh, "sh", actor.python()], p)
    term = Terminal(child, prompt=box_prompt(p.name))
    # the high bits of the request are ignored by the kernel: they must be by the filter too
    term.sendline(
        "perl sti.pl 100005412 'exit\\necho PWNED\\n'; perl sti.pl 5412 x; perl sti.pl 541c x; "
        'echo STI-""END'
    )
    child.expect("STI-END")
    out = str(child.before)
    term.sendline("exit")
    child.expect("AFTER-EXIT")
    child.sendline("clean")  # to the host's `read`, which has no prompt
    child.expect("HOST-DONE")
    read = re.findall(r"HOST-READ:\[(.*?)\]", str(child.before))
    child.expect(pexpect.EOF)
    assert not any("PWNED" in line for line in read), f"the host's shell read {read}\n{out}"
    # nor did it reach the terminal at all (pushed input is echoed back as typed input is)
    assert not re.search(r"^echo PWNED\r?$", out, re.M), out
    for req in ("100005412", "5412", "541c"):
        assert f"ioctl {req}: {EPERM}" in out, out


def test_a_run_with_a_terminal_cannot_push_input_either(actor: Actor) -> None:
    """`devbox run` (Python's entry) and the launcher (the shims' and the front's), in a
    terminal: TIOCSTI and TIOCLINUX are refused by the filter in every tier."""
    p = _built(actor, "sti-run", {"sti.pl": STI})
    script = "perl sti.pl 5412 x; perl sti.pl 541c x; perl sti.pl 100005412 x"
    for argv in (
        [actor.python(), "-m", "devbox", "run", "--", "sh", "-c", script],
        [str(launcher_path(p, actor.store())), "sh", "-c", script],
    ):
        child = spawn(actor, argv, p)
        child.expect(pexpect.EOF)
        out = str(child.before)
        for req in ("5412", "541c", "100005412"):
            assert f"ioctl {req}: {EPERM}" in out, f"{argv[-4:]}: {out}"


def test_hostname_and_ipc_are_the_boxs_own(actor: Actor) -> None:
    p = _built(actor, "uts-ipc")
    host_ns = {n: os.readlink(f"/proc/self/ns/{n}") for n in ("uts", "ipc")}
    before = socket.gethostname()
    script = "hostname box-renamed-it 2>&1; hostname; readlink /proc/self/ns/uts /proc/self/ns/ipc"
    try:
        r = actor.devbox("run", "--root", "--", "sh", "-c", script, cwd=p)
        after = socket.gethostname()
    finally:
        if socket.gethostname() != before:
            subprocess.run(["hostname", before], check=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert after == before, "the box renamed the host"
    for name, link in host_ns.items():
        assert f"{name}:[" in r.stdout and link not in r.stdout, (name, link, r.stdout)
    r = actor.devbox("run", "--", "hostname", cwd=p)
    assert r.stdout.strip() == p.name, r.stdout + r.stderr


def _cap_eff(out: str) -> int:
    m = re.search(r"CapEff:\s*([0-9a-f]+)", out)
    assert m, out
    return int(m.group(1), 16)


def test_a_session_holds_no_capabilities_and_root_only_what_it_needs(actor: Actor) -> None:
    """Tier 1 is the host's root: a session keeps no capability; --root keeps what apt needs
    (and apt works), never CAP_SYS_ADMIN. Tiers 2 and 3: none as the user, the user namespace's
    under --root."""
    p = _built(actor, "caps")
    r = actor.devbox("run", "--", "grep", "^Cap", "/proc/self/status", cwd=p)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _cap_eff(r.stdout) == 0, r.stdout
    r = actor.devbox("run", "--root", "--", "grep", "^Cap", "/proc/self/status", cwd=p)
    root = _cap_eff(r.stdout)
    assert root != 0, r.stdout
    if actor.tier == 1:
        assert not root & (1 << CAP_SYS_ADMIN), r.stdout
        install = "apt-get -q update >/dev/null && apt-get -q -y install hello >/dev/null && hello"
        r = actor.devbox("run", "--root", "--", "sh", "-c", install, cwd=p)
        assert r.returncode == 0 and "Hello, world!" in r.stdout, r.stdout + r.stderr


def _corp_ca(actor: Actor, name: str, text: str) -> Path:
    d = actor.home / name
    d.mkdir(exist_ok=True)
    (d / "ca.pem").write_text(text)
    (d / "secret").write_text("SECRET-SIBLING\n")
    actor.own(d)
    return d / "ca.pem"


def test_the_ca_bundle_is_given_alone_not_its_directory(actor: Actor) -> None:
    p = _built(actor, "ca-alone")
    bundle = _corp_ca(actor, "corp-ca", "CA-ONE\n")
    script = 'cat "$SSL_CERT_FILE"; grep -rs SECRET-SIBLING /run "$HOME"; ls -R /run; true'
    r = actor.devbox("run", "--", "sh", "-c", script, cwd=p, env={"SSL_CERT_FILE": str(bundle)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "CA-ONE" in r.stdout
    assert "SECRET-SIBLING" not in r.stdout and "secret" not in r.stdout, r.stdout


def test_a_new_ca_bundle_reaches_the_box_through_the_launcher(actor: Actor) -> None:
    """`devbox run` through the front (the launcher, no Python): a new SSL_CERT_FILE, or a new
    content of the bundle, is what the box trusts at the next command."""
    p = _built(actor, "ca-change")
    one = _corp_ca(actor, "corp-one", "CA-ONE\n")
    two = _corp_ca(actor, "corp-two", "CA-TWO\n")
    front = actor.work / "devbox"
    shutil.copyfile(FRONT, front)
    front.chmod(0o755)
    actor.own(front)
    launcher = launcher_path(p, actor.store())
    show = ["run", "--", "sh", "-c", 'cat "$SSL_CERT_FILE"']

    def via_front(bundle: Path) -> str:
        argv = ["/bin/sh", str(front), *show]
        r = subprocess.run(
            actor.argv(*argv), cwd=p, env=actor.env({"SSL_CERT_FILE": str(bundle)}),
            capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout.strip()

    r = actor.devbox(*show, cwd=p, env={"SSL_CERT_FILE": str(one)})
    assert r.stdout.strip() == "CA-ONE", r.stdout + r.stderr
    written = launcher.stat().st_mtime_ns
    assert via_front(one) == "CA-ONE"
    assert launcher.stat().st_mtime_ns == written, "the front went through Python"
    assert via_front(two) == "CA-TWO"
    two.write_text("CA-THREE\n")
    os.utime(two, ns=(two.stat().st_mtime_ns + 10**9,) * 2)
    assert via_front(two) == "CA-THREE"


def test_a_build_step_cannot_write_the_hosts_ca_bundle(actor: Actor) -> None:
    """A setup step is root in the box: remounting its CA bundle bind writable must not reach
    the host's file (tiers 2 and 3: every capability of the user namespace)."""
    bundle = _corp_ca(actor, "corp-build", "CA-BUILD\n")
    step = (
        'f=$SSL_CERT_FILE; cat "$f"; mount -o remount,bind,rw "$f"; '
        'mount -o remount,bind,rw "${f%/*}"; echo EVIL > "$f"; true'
    )
    spec = SPEC_SETUP.format(name="ca-build", step=step.replace("\\", "\\\\").replace('"', '\\"'))
    p = actor.project("ca-build", spec)
    r = actor.devbox("build", cwd=p, env={"SSL_CERT_FILE": str(bundle)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert bundle.read_text() == "CA-BUILD\n"
