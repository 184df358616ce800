"""What devbox gives every session through the box's rc dir (read-only at /run/devbox), besides
the CA bundle: the user's git config (git in a box knows who you are) and a `sudo` that says how
to be root in the box. In every tier; the host's file stays the host's, and what a box plants in
the rc dir (root in tiers 2 and 3 can remount it writable) is replaced, never followed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.security.actors import SPEC, Actor, changed

pytestmark = pytest.mark.integration

GIT_SPEC = SPEC + '\n[packages]\napt = ["git", "sudo"]\n'
IDENTITY = "[user]\n\tname = Host Person\n\temail = host@example.org\n[alias]\n\tst = status\n"
COMMIT = (
    "git init -q repo && cd repo && echo hi > f && git add f && git commit -q -m first && "
    "git log -1 --format='%an <%ae>|%cn <%ce>' && git st --short && echo ok"
)


def _built(actor: Actor, name: str, spec: str | None = None) -> Path:
    p = actor.project(name, spec.format(name=name) if spec else None)
    r = actor.devbox("build", cwd=p)
    assert r.returncode == 0, r.stdout + r.stderr
    return p


def _gitconfig(actor: Actor, text: str) -> Path:
    path = actor.home / ".gitconfig"
    path.write_text(text)
    os.lchown(path, actor.uid, actor.gid)
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)  # a change the launcher sees
    return path


def _run(actor: Actor, p: Path, script: str, *, root: bool = False) -> str:
    r = actor.devbox("run", *(["--root"] if root else []), "--", "sh", "-c", script, cwd=p)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_git_in_a_box_knows_the_users_identity(actor: Actor) -> None:
    p = _built(actor, "git-identity", GIT_SPEC)
    host_file = _gitconfig(actor, IDENTITY)
    try:
        out = _run(actor, p, COMMIT)
        assert "Host Person <host@example.org>|Host Person <host@example.org>" in out, out
        assert out.rstrip().endswith("ok"), out
        # `git config --global` writes the box's home; the host's file is as it was
        _run(actor, p, "git config --global user.name 'Box Name'")
        assert host_file.read_text() == IDENTITY
        assert _run(actor, p, "git config user.name; git config user.email") == (
            "Box Name\nhost@example.org\n"
        )
        _run(actor, p, "git config --global --unset user.name")
        # a change of the host's config reaches the next session, through the launcher too
        _gitconfig(actor, IDENTITY.replace("Host Person", "Renamed Person"))
        front = subprocess.run(
            actor.argv("/bin/sh", str(Path(__file__).parents[2] / "devbox/front.sh"), "run", "--",
                       "git", "config", "user.name"),
            cwd=p, env=actor.env(), capture_output=True, text=True, timeout=600,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert front.stdout == "Renamed Person\n", front.stdout + front.stderr
        # no config on the host: nothing given, git asks who you are as it would
        host_file.unlink()
        r = actor.devbox("run", "--", "sh", "-c", 'echo "[$GIT_CONFIG_SYSTEM]"; ls /run/devbox',
                         cwd=p)  # fmt: skip
        assert r.stdout.startswith("[]\n") and "gitconfig" not in r.stdout, r.stdout + r.stderr
    finally:
        host_file.unlink(missing_ok=True)


def test_a_box_cannot_change_the_hosts_git_config(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    p = _built(actor, "git-hostile", GIT_SPEC)
    host_file = _gitconfig(actor, IDENTITY)
    sentinels = {**sentinels, host_file: IDENTITY.encode()}
    try:
        # as the user: the copy is read-only, and git's system config is not the user's to write
        r = actor.devbox("run", "--", "sh", "-c",
                         'echo "[user]name=x" >> "$GIT_CONFIG_SYSTEM"; '
                         "git config --system user.name Evil; echo done", cwd=p)  # fmt: skip
        assert "done" in r.stdout and changed(sentinels) == [], r.stderr
        # as root in the box (tiers 2 and 3 may remount the rc dir writable): the copy may be
        # changed for this box, or replaced by a link to the host's file, which the host then
        # replaces, never follows
        plant = (
            "mount -o remount,rw /run/devbox 2>/dev/null; "
            'echo "[user]name=Evil" >> /run/devbox/gitconfig; '
            f"rm -f /run/devbox/gitconfig && ln -s {host_file} /run/devbox/gitconfig; true"
        )
        _run(actor, p, plant, root=True)
        _gitconfig(actor, IDENTITY)  # the next entry copies the host's file again
        out = _run(actor, p, "git config user.name; ls -l /run/devbox/gitconfig")
        assert out.startswith("Host Person\n") and "->" not in out, out
        assert changed(sentinels) == []
    finally:
        host_file.unlink(missing_ok=True)


def test_sudo_in_a_box_without_one_says_how_to_be_root(actor: Actor) -> None:
    p = _built(actor, "no-sudo")
    r = actor.devbox("run", "--", "sudo", "apt-get", "install", "hello", cwd=p)
    assert r.returncode == 1 and r.stdout == "", r.stdout + r.stderr
    for words in ("devbox shell --root", "devbox run --root -- CMD", "[packages] apt",
                  "writable layer"):  # fmt: skip
        assert words in r.stderr, r.stderr
    # root in the box (--root) runs the command
    assert _run(actor, p, "sudo id -u", root=True) == "0\n"
    # the box's copy is read-only to it, and the host replaces what root in the box plants
    r = actor.devbox("run", "--", "sh", "-c", "echo exit 0 > /run/devbox/bin/sudo", cwd=p)
    assert r.returncode != 0
    victim = actor.work / "planted-bin"
    victim.mkdir()
    actor.own(victim)
    plant = (
        "mount -o remount,rw /run/devbox 2>/dev/null; "
        f"rm -rf /run/devbox/bin && ln -s {victim} /run/devbox/bin; true"
    )
    _run(actor, p, plant, root=True)
    r = actor.devbox("run", "--", "sudo", "true", cwd=p)
    assert r.returncode == 1 and "devbox shell --root" in r.stderr, r.stdout + r.stderr
    assert list(victim.iterdir()) == []


def test_a_box_with_its_own_sudo_keeps_it(actor: Actor) -> None:
    p = _built(actor, "own-sudo", GIT_SPEC)
    assert _run(actor, p, "command -v sudo") == "/usr/bin/sudo\n"
