"""The store trusts no one but its owner: a store, state dir or launcher another user made (or can
write) is neither run nor used, and everything devbox makes there is the user's alone (0700
dirs, 0600 lock files), an older store included."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from devbox.store.paths import project_id
from tests.security.actors import Actor, changed

pytestmark = pytest.mark.integration

FRONT = Path(sys.executable).with_name("devbox")  # the installed `devbox`: devbox/front.sh


def front_for(actor: Actor) -> str:
    """The `devbox` front as this actor runs it: the installed one for root; for a user, a copy
    of it beside a `devbox-cli` that runs the actor's Python (the venv is root's alone)."""
    if not FRONT.is_file() or FRONT.read_bytes()[:9] != b"#!/bin/sh":
        pytest.fail(f"{FRONT} is not devbox's sh front (install devbox: ./scripts/setup.sh)")
    if actor.user is None:
        return str(FRONT)
    bin_dir = actor.work.parent / f"front-{actor.tier}"
    if not bin_dir.is_dir():
        bin_dir.mkdir(mode=0o755)
        shutil.copyfile(FRONT, bin_dir / "devbox")
        (bin_dir / "devbox-cli").write_text(f'#!/bin/sh\nexec {actor.python()} -m devbox "$@"\n')
        for name in ("devbox", "devbox-cli"):
            (bin_dir / name).chmod(0o755)
    return str(bin_dir / "devbox")


def attacker_of(actor: Actor, actors: dict[int, Actor]) -> Actor:
    """Another user on this host (never root: root can do anything anyway)."""
    return actors[3] if actor.tier != 3 else actors[2]


def shared_dir(actor: Actor, name: str) -> Path:
    """A fresh path beside the actors' homes (in a directory every user can search)."""
    base = actor.work.parent
    path = base / f"{name}-{actor.tier}"
    n = 1
    while path.exists():
        n += 1
        path = base / f"{name}-{actor.tier}-{n}"
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def run_as(
    actor: Actor, argv: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        actor.argv(*argv), cwd=cwd, env=actor.env(env), capture_output=True, text=True,
        timeout=900, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_a_launcher_another_user_planted_in_a_shared_store_is_not_run(
    actor: Actor, actors: dict[int, Actor], sentinels: dict[Path, bytes]
) -> None:
    p = actor.project("planted")
    attacker = attacker_of(actor, actors)
    shared = shared_dir(actor, "shared-store")  # the other user made it first, for everyone
    shared.mkdir(mode=0o755)
    attacker.own(shared)
    payload = '#!/bin/sh\necho PLANTED\necho pwned >> "$HOME/victim"\n'
    planted = [  # where the front (by-path) and `python -m devbox run` (by hash) look
        shared / f"by-path{os.path.realpath(p)}" / ".launcher",
        shared / "projects" / project_id(p) / "launcher",
    ]
    script = "umask 022\n" + "".join(
        f'mkdir -p {shlex.quote(str(f.parent))} && printf %s "$1" > {shlex.quote(str(f))} && '
        f"chmod 755 {shlex.quote(str(f))}\n"
        for f in planted
    )
    r = run_as(attacker, ["sh", "-c", script, "sh", payload], cwd=attacker.work)
    assert r.returncode == 0, r.stderr
    env = {"DEVBOX_HOME": str(shared)}
    for how, argv in (("the front", [front_for(actor)]),
                      ("python -m devbox", [actor.python(), "-m", "devbox"])):  # fmt: skip
        r = run_as(actor, [*argv, "run", "--", "true"], cwd=p, env=env)
        assert "PLANTED" not in r.stdout, f"{how} ran the planted launcher"
        assert r.returncode == 1, f"{how}: {r.returncode} {r.stdout}{r.stderr}"
        assert str(shared) in r.stderr and "owned by" in r.stderr, r.stderr
        assert "DEVBOX_HOME" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert changed(sentinels) == []


def test_a_store_or_state_dir_others_can_write_is_refused(actor: Actor) -> None:
    p = actor.project("loose")
    store = shared_dir(actor, "loose-store")
    store.mkdir()
    actor.own(store)
    store.chmod(0o777)  # the user's own, but anyone can plant things in it
    r = run_as(
        actor, [actor.python(), "-m", "devbox", "ls"], cwd=p, env={"DEVBOX_HOME": str(store)}
    )
    assert r.returncode == 1, f"{r.returncode} {r.stdout}{r.stderr}"
    assert str(store) in r.stderr and f"chmod 700 {store}" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    store.chmod(0o700)
    state = store / "state"
    state.mkdir()
    actor.own(state)
    state.chmod(0o775)
    r = run_as(actor, [actor.python(), "-m", "devbox", "allow"], cwd=p,
               env={"DEVBOX_HOME": str(store)})  # fmt: skip
    assert r.returncode == 1, f"{r.returncode} {r.stdout}{r.stderr}"
    assert str(state) in r.stderr and "writable" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def state_root(actor: Actor) -> Path:
    env = actor.env()
    if env.get("DEVBOX_HOME"):
        return Path(env["DEVBOX_HOME"]) / "state"
    if env.get("XDG_STATE_HOME"):
        return Path(env["XDG_STATE_HOME"]) / "devbox"
    return Path(env["HOME"]) / ".local/state/devbox"


def devbox_umask_022(actor: Actor, *args: str, cwd: Path) -> None:
    """devbox as a user whose umask lets everyone read what they make."""
    argv = ["sh", "-c", 'umask 022 && exec "$@"', "sh", actor.python(), "-m", "devbox", *args]
    r = run_as(actor, argv, cwd=cwd)
    assert r.returncode == 0, f"devbox {' '.join(args)}: {r.stdout}{r.stderr}"


def private(actor: Actor, p: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """What devbox made for project `p`: directories, lock files, and the launcher and index."""
    store = actor.store()
    pdir = store / "projects" / project_id(p)
    index = store / f"by-path{os.path.realpath(p)}"
    dirs = [store, store / "projects", pdir, pdir / "home", pdir / "run", pdir / "launcher.d",
            store / "locks", store / "by-path", index, state_root(actor),
            state_root(actor) / "trust"]  # fmt: skip
    locks = [*(store / "locks").glob("*.lock"), store / "gc.lock", pdir / "run" / "start.lock",
             pdir / "launcher.d" / ".lock"]  # fmt: skip
    return dirs, locks, [pdir / "launcher"]


def loose(paths: list[Path], want: int) -> list[str]:
    return [f"{path} {mode(path):o}" for path in paths if mode(path) != want]


def test_what_devbox_makes_is_the_users_alone(actor: Actor) -> None:
    p = actor.project("modes")
    devbox_umask_022(actor, "run", "--", "true", cwd=p)
    devbox_umask_022(actor, "allow", cwd=p)
    dirs, locks, launcher = private(actor, p)
    assert len(locks) > 3
    assert loose(dirs, 0o700) == []
    assert loose(locks, 0o600) == []
    assert loose(launcher, 0o700) == []


def test_a_store_an_older_devbox_made_is_used_and_tightened(actor: Actor) -> None:
    p = actor.project("older")
    devbox_umask_022(actor, "run", "--", "true", cwd=p)
    devbox_umask_022(actor, "allow", cwd=p)
    dirs, locks, launcher = private(actor, p)
    for path in dirs + launcher:  # as the older devbox left them under umask 022
        path.chmod(0o755)
    for path in locks:
        path.chmod(0o644)
    spec = p / "devbox.toml"
    os.utime(spec)  # the older devbox's launcher is stale (devbox's own code changed): Python runs
    devbox_umask_022(actor, "run", "--", "true", cwd=p)
    devbox_umask_022(actor, "allow", cwd=p)
    assert loose(dirs, 0o700) == []
    assert loose(locks, 0o600) == []
    assert loose(launcher, 0o700) == []
