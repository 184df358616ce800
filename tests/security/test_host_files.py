"""The host never follows a path the box can write: a box-planted symlink where devbox writes or
reads on the host is refused or not followed, and the host file it names is untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import time
from pathlib import Path

import pytest

from devbox.build import steps
from devbox.store.paths import Store
from tests.security.actors import Actor, changed

pytestmark = pytest.mark.integration


def test_the_lock_is_not_written_through_a_planted_symlink(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    p = actor.project("lock-link")
    r = actor.devbox("build", cwd=p)
    assert r.returncode == 0, r.stderr
    victim = actor.home / "victim"
    r = actor.devbox("run", "--", "sh", "-c", f"rm devbox.lock; ln -s {victim} .devbox.lock.new",
                     cwd=p)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = actor.devbox("run", "--", "true", cwd=p)
    assert "Traceback" not in r.stderr
    assert changed(sentinels) == []


SETUP_SPEC = """\
[box]
name = "{name}"
base = "debian:bookworm"

[setup]
run = [{steps}]
"""


def _setup_project(actor: Actor, name: str, *steps: str) -> Path:
    """A project whose [setup] runs `steps` (as root, in the build sandbox)."""
    p = actor.project(name, spec="")
    quoted = ", ".join(json.dumps(s) for s in steps)
    (p / "devbox.toml").write_text(SETUP_SPEC.format(name=p.name, steps=quoted))
    return p


def _box_dir(actor: Actor, project: Path) -> Path:
    return Store(actor.store()).project_dir(project)


def _wait_stopped(actor: Actor, project: Path) -> None:
    """Wait for the box (started with DEVBOX_LINGER=0) to stop: its next entry starts it."""
    pid = _box_dir(actor, project) / "run/supervisor.pid"
    deadline = time.monotonic() + 30
    while pid.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid.exists(), "the box did not stop"


@pytest.mark.parametrize("plant", ["ssh", "etc"])
def test_the_isolated_home_is_not_seeded_through_a_symlinked_skel(
    actor: Actor, sentinels: dict[Path, bytes], plant: str
) -> None:
    target = actor.home / ".ssh" if plant == "ssh" else Path("/etc")
    p = _setup_project(actor, f"skel-{plant}", f"rm -rf /etc/skel && ln -s {target} /etc/skel")
    r = actor.devbox(
        "run", "--", "sh", "-c", 'ls -A "$HOME"; cat "$HOME"/* 2>/dev/null; true', cwd=p
    )
    assert "Traceback" not in r.stderr
    assert r.returncode == 0, r.stderr
    assert "/etc/skel" in r.stderr  # said, as it seeded nothing
    assert "not really" not in r.stdout  # the host's ~/.ssh/id_ed25519
    assert "id_ed25519" not in r.stdout.split()
    host_passwd = Path("/etc/passwd").read_text()
    assert host_passwd not in r.stdout  # the host's /etc, copied in
    assert changed(sentinels) == []


def test_the_isolated_home_is_not_seeded_through_a_skel_link_in_the_writable_layer(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    p = actor.project("skel-upper")
    stop = {"DEVBOX_LINGER": "0"}  # the box stops when the run ends: the next run seeds again
    home = actor.home  # the box's home is mounted there (root's $HOME is /root in tiers 2, 3)
    plant = f"rm -rf /etc/skel && ln -s {home}/.ssh /etc/skel && rm -rf {home}/.[!.]* {home}/*"
    r = actor.devbox("run", "--root", "--", "sh", "-c", plant, cwd=p, env=stop)
    assert r.returncode == 0, r.stderr
    _wait_stopped(actor, p)
    r = actor.devbox(
        "run", "--", "sh", "-c", 'ls -A "$HOME"; cat "$HOME"/* 2>/dev/null; true', cwd=p
    )
    assert "Traceback" not in r.stderr
    assert r.returncode == 0, r.stderr
    assert "/etc/skel" in r.stderr  # said, as it seeded nothing
    assert "not really" not in r.stdout and "id_ed25519" not in r.stdout.split()
    assert changed(sentinels) == []


@pytest.mark.parametrize("plant", ["passwd", "group", "etc"])
def test_the_user_is_not_added_to_the_box_through_a_planted_symlink(
    actor: Actor, sentinels: dict[Path, bytes], plant: str
) -> None:
    if actor.tier == 1:
        pytest.skip("tier 1 is root in the box: no user line is added")
    stop = {"DEVBOX_LINGER": "0"}  # the box stops when the run ends: the next run starts it
    p = actor.project(f"passwd-{plant}")
    r = actor.devbox("run", "--", "true", cwd=p, env=stop)
    assert r.returncode == 0, r.stderr
    _wait_stopped(actor, p)
    if plant == "etc":  # the writable layer's /etc a link to a host dir holding a passwd
        fake = actor.home / "fake-etc"
        actor.sh(f"mkdir -p {fake}", cwd=p)
        for name in ("passwd", "group"):
            (fake / name).write_bytes(sentinels[actor.home / "victim"])
            os.lchown(fake / name, actor.uid, actor.gid)
            sentinels[fake / name] = sentinels[actor.home / "victim"]
        r = actor.devbox("reset", cwd=p)  # an empty writable layer, then the link in it
        assert r.returncode == 0, r.stderr
        r = actor.sh(f"ln -s {fake} {_box_dir(actor, p) / 'upper/etc'}", cwd=p)
        assert r.returncode == 0, r.stderr
    else:
        plant_it = f"rm -f /etc/{plant}; ln -s {actor.home}/.bashrc /etc/{plant}"
        r = actor.devbox("run", "--root", "--", "sh", "-c", plant_it, cwd=p, env=stop)
        assert r.returncode == 0, r.stderr
        _wait_stopped(actor, p)
    r = actor.devbox("run", "--", "true", cwd=p, env=stop)
    assert "Traceback" not in r.stderr
    assert changed(sentinels) == []


def test_build_outputs_are_not_read_through_symlinks(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    """A build step makes out/packages.tsv a link to a host file (a dpkg-query of its own
    writes it, after the build script opened it): the build fails clearly, reading nothing."""
    fake = f"#!/bin/sh\nln -sf {actor.home}/victim {steps.BUILD_OUT}/packages.tsv\n"
    plant = f"printf '%s' {shlex.quote(fake)} > /usr/local/bin/dpkg-query"
    p = _setup_project(actor, "out-link", f"{plant} && chmod +x /usr/local/bin/dpkg-query")
    r = actor.devbox("build", cwd=p)
    assert "Traceback" not in r.stderr
    assert r.returncode == 1, r.stdout + r.stderr
    assert "packages.tsv is a symlink" in r.stderr
    assert changed(sentinels) == []


def test_init_refuses_a_dangling_spec_symlink(actor: Actor, sentinels: dict[Path, bytes]) -> None:
    p = actor.project("init-link")
    (p / "devbox.toml").unlink()
    target = actor.home / "planted.toml"
    actor.sh(f"ln -s {target} devbox.toml", cwd=p)
    for force in ([], ["--force"]):
        r = actor.devbox("init", *force, cwd=p)
        assert "Traceback" not in r.stderr
        assert r.returncode == 1, r.stdout + r.stderr
        assert "symlink" in r.stderr
        assert not target.exists()
    assert changed(sentinels) == []


def test_setup_inputs_are_not_hashed_through_symlinks(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    """A symlink among the setup inputs (the working tree is the box's to write) hashes as its
    target string: the host's key is neither read nor its hash written to devbox.lock."""
    p = _setup_project(actor, "inputs-link", "true")
    text = (p / "devbox.toml").read_text() + 'inputs = ["data", "top"]\n'
    (p / "devbox.toml").write_text(text)
    key = actor.home / ".ssh/id_ed25519"
    actor.sh(f"mkdir data && ln -s {key} data/key && ln -s {key.parent} top", cwd=p)
    r = actor.devbox("build", cwd=p)
    assert "Traceback" not in r.stderr
    assert r.returncode == 0, r.stderr
    lock = (p / "devbox.lock").read_text()
    assert hashlib.sha256(sentinels[key]).hexdigest() not in lock
    assert '"data/key"' in lock and '"top"' in lock
    assert changed(sentinels) == []


def test_a_mount_point_is_not_made_through_a_planted_symlink(
    actors: dict[int, Actor], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The supervisor makes each bind's mount point in the box: a [setup] step that makes a
    parent of the home's mount point a symlink to a host directory must not get the home made
    there on the host (mount's X-mount.mkdir followed it, as root in tier 1)."""
    actor = actors[1]
    host_dir = tmp_path_factory.mktemp("host-dir")
    parent = Path("/var/tmp") / f"devbox-sec-parent-{os.getpid()}"  # not under the box's /tmp
    home = parent / "made-by-the-box"
    p = _setup_project(actor, "mount-point-link", f"ln -s {host_dir} {parent}")
    r = actor.devbox("build", cwd=p)
    assert r.returncode == 0, r.stdout + r.stderr
    r = actor.devbox("run", "--", "true", cwd=p, env={"HOME": str(home)})
    assert r.returncode == 1, r.stdout + r.stderr
    assert "symbolic link" in r.stderr and "Traceback" not in r.stderr
    assert list(host_dir.iterdir()) == []
    assert not parent.exists()


def test_an_env_file_is_not_read_through_a_planted_symlink(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    """`[env] files = [".env"]`: code in the box links .env to a host file it cannot read; the
    host must not follow the link and hand that file's values to the box (or echo its lines)."""
    spec = SPEC_ENV_FILES.format(name="env-link")
    p = actor.project("env-link", spec, {".env": "WHO=plain\n"})
    r = actor.devbox("run", "--", "sh", "-c", 'echo "who=$WHO"', cwd=p)
    assert (r.returncode, r.stdout) == (0, "who=plain\n"), r.stderr
    host_file = actor.home / "host.env"
    actor.sh(f"printf 'TOKEN=host-secret\\n' > {shlex.quote(str(host_file))}", cwd=p)
    for target in (host_file, actor.home / ".ssh/id_ed25519"):
        actor.sh("printf 'WHO=plain\\n' > .env.new && mv .env.new .env", cwd=p)
        r = actor.devbox("run", "--", "ln", "-sf", str(target), ".env", cwd=p)
        assert r.returncode == 0, r.stderr
        for verb in (["run", "--", "printenv"], ["allow"], ["shell"]):
            r = actor.devbox(*verb, cwd=p)
            out = r.stdout + r.stderr
            assert "Traceback" not in out
            assert r.returncode == 1, out
            assert "[env] files: " in r.stderr and ".env is a symlink" in r.stderr, r.stderr
            assert "host-secret" not in out and "not really" not in out
    assert changed(sentinels) == []


SPEC_ENV_FILES = """\
[box]
name = "{name}"
base = "debian:bookworm"

[env]
files = [".env"]
"""
