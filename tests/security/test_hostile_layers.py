"""A property of every verb over hostile writable layers: whatever a box plants at the paths
devbox touches on the host (symlinks to host files and directories, dangling symlinks, fifos,
directories for files and files for directories, names with newlines and escapes), planted by a
[setup] step, by root in the box or by the user in the box home and the project directory,
`build`, `run`, `shell`, `status`, `lock`, `reset`, `gc` and entering again

- leave the host's sentinel files byte for byte as they were,
- make nothing new outside the store (the user's home, the projects' directory, /tmp),
- copy no host secret into the box or the store,
- and end with status 0 or 1, a clear message, no traceback and no hang.

The plants are drawn by hypothesis, derandomized (the same examples on every run) and not
shrunk (an example takes seconds): each example plants at three to six targets, each tier draws
its own examples, and the attacks that worked when this test was written are tried first. A
failure says which plants were in place, each call's status and time, and what went wrong.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.security import hostile
from tests.security.actors import Actor, changed, plant_sentinels
from tests.security.hostile import EMPTY_HOME, RARE, ROOT, SETUP, TARGETS, USER, Host, Plant

pytestmark = pytest.mark.integration

EXAMPLES = 6  # per tier; each takes 5-20 s
LONG, SHORT = 150.0, 60.0  # timeouts: the first build, any other call (a setup layer: seconds)
ENV = {"DEVBOX_LINGER": "0"}  # the supervisor goes with the last session: each run starts it
SECRETS = (b"devbox-secret-etc", b"devbox-secret-profile")  # in sentinels, found even if escaped

SPEC = """\
[box]
name = "{name}"
base = "debian:bookworm"

[setup]
run = [{run}]
inputs = ["input.txt"]
"""


def _plant(name: str, rare: bool = False) -> st.SearchStrategy[Plant]:
    t = (RARE if rare else TARGETS)[name]
    return st.builds(
        Plant,
        st.just(name),
        st.sampled_from(t.kinds),
        st.sampled_from(t.by),
        st.integers(0, 5),
    )


def _plants() -> st.SearchStrategy[list[Plant]]:
    """A few targets, each with a plant; rarely /etc itself; sometimes an emptied home."""
    order = list(TARGETS)
    some = st.lists(st.sampled_from(order), min_size=3, max_size=6, unique=True).flatmap(
        lambda names: st.tuples(*(_plant(n) for n in sorted(names, key=order.index)))
    )
    rare = st.sampled_from([False] * 7 + [True]).flatmap(
        lambda r: _plant("etc", rare=True).map(lambda p: [p]) if r else st.just([])
    )
    empty = st.booleans().map(lambda e: [Plant(EMPTY_HOME, "", USER, 0)] if e else [])
    # the home is emptied first: the plants in it stay
    return st.tuples(some, rare, empty).map(lambda t: [*t[2], *t[0], *t[1]])


# Attacks that worked on the code this test was written against, tried first in every tier: the
# supervisor's passwd line (tiers 2, 3), skel seeding the home from a host directory, a build
# output read through a symlink, the lock written through its temp file; a dangling rc file.
CLASSIC = [
    Plant("passwd", hostile.LINK_FILE, SETUP, 2),
    Plant("skel", hostile.LINK_DIR, SETUP, 0),
    Plant("packages", hostile.LINK_FILE, SETUP, 4),
    Plant("bashrc", hostile.DANGLING, USER, 0),
    Plant("lock-new", hostile.LINK_FILE, USER, 2),
]


@pytest.fixture(scope="module")
def etc_sentinel() -> Iterator[Path]:
    """A root-owned host file in /etc that no box may reach; its content parses as a line of
    packages.tsv, so that a build output read through a symlink would carry it into the store."""
    path = Path(f"/etc/devbox-sentinel-{os.getpid()}")
    path.write_bytes(b"devbox-secret-etc\t1.0\tall\n")
    path.chmod(0o644)
    yield path
    path.unlink(missing_ok=True)


def _sentinels(actor: Actor, etc: Path) -> dict[Path, bytes]:
    files = plant_sentinels(actor.home, actor.uid, actor.gid)
    profile = actor.home / ".profile"
    profile.write_bytes(b"# the user's own profile: devbox-secret-profile\n")
    os.lchown(profile, actor.uid, actor.gid)
    return {**files, profile: profile.read_bytes(), etc: etc.read_bytes()}


def _outside(actor: Actor, host: Host) -> dict[str, set[str]]:
    """What exists outside the store where a followed path would make something new."""
    store = actor.store()
    state = Path(actor.env().get("XDG_STATE_HOME") or actor.home / ".local/state") / "devbox"
    tmp = {
        n
        for n in hostile.names(Path("/tmp"))
        if host.token in n or (actor.uid != 0 and _owner(Path("/tmp") / n) == actor.uid)
    }
    own = {str(p) for p in [*store.parents, *state.parents]}  # devbox may make them
    return {
        "home": hostile.tree(actor.home, skip=[store, state]) - own,
        "projects' directory": {n for n in hostile.names(actor.work)},
        "/tmp": tmp,
        "new paths": {str(p) for p in host.new_paths if os.path.lexists(p)},
    }


def _owner(path: Path) -> int | None:
    try:
        return path.lstat().st_uid
    except OSError:
        return None


def _state_dir(actor: Actor, project: Path) -> Path:
    from devbox.store.paths import project_id

    return actor.store() / "projects" / project_id(project)


def _verbs(actor: Actor, project: Path, host: Host, plants: list[Plant]) -> list[hostile.Call]:
    """Plant, then every verb; each call's result, in order."""
    calls: list[hostile.Call] = []

    def dbx(*args: str, timeout: float = SHORT, input: str = "", hang_ok: bool = False) -> None:
        if any(c.rc is None and not c.hang_ok for c in calls):
            return  # one hang is enough: the rest would wait as long
        c = hostile.call(
            actor, *args, cwd=project, env=ENV, timeout=timeout, input=input, hang_ok=hang_ok
        )
        calls.append(c)

    dbx("build", timeout=LONG)
    dbx("run", "--", "true")  # the first start: home seeded, passwd appended
    # the user's plants first: root's may leave a box that does not start
    user = hostile.plant_script([p for p in plants if p.by == USER], host)
    dbx("run", "--", "sh", "-c", user)
    state = _state_dir(actor, project)
    if calls[-1].rc != 0:  # the box does not start: what it could have written, written as it
        actor.sh(user, cwd=project, env={"HOME": str(state / "home")})
    root_plants = [p for p in plants if p.by == ROOT]
    if root_plants:
        dbx("run", "--root", "--", "sh", "-c", hostile.plant_script(root_plants, host))
    top = [state / "no-layer", *_layers(actor, state)][-1] / "rootfs"  # the [setup] layer
    roots = {"home": state / "home", ROOT: state / "upper", SETUP: top}
    host.missed += [p for p in plants if hostile.landed(p, host, roots, project) is False]
    dbx("run", "--", "true")  # the launcher; the supervisor starts again
    # bash reads /etc/passwd as it starts: a fifo there hangs the box's own shell, not devbox
    own_hang = any(p.kind == hostile.FIFO and p.target in ("passwd", "group") for p in plants)
    dbx("shell", input="echo in-the-shell\nexit\n", timeout=15 if own_hang else SHORT,
        hang_ok=own_hang)  # fmt: skip
    dbx("status")
    dbx("lock")
    dbx("build")
    dbx("reset")
    dbx("run", "--", "true")  # entering again after the reset
    return calls


@pytest.mark.timeout(1800)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
@example(per_tier=(CLASSIC, CLASSIC, CLASSIC))
@given(per_tier=st.tuples(_plants(), _plants(), _plants()))
def test_hostile_writable_layers_reach_nothing_on_the_host(
    actor: Actor, etc_sentinel: Path, per_tier: tuple[list[Plant], ...]
) -> None:
    plants = per_tier[actor.tier - 1]  # derandomized: each tier gets examples of its own
    token = secrets.token_hex(4)
    host = Host(actor, token, etc_sentinel)
    host.sentinels = _sentinels(actor, etc_sentinel)
    setup = hostile.plant_script([p for p in plants if p.by == SETUP], host)
    project = actor.project(
        "hostile",
        spec=SPEC.format(name="hostile", run=_toml_string(setup)),
        files={"input.txt": "an input\n"},
    )
    state = _state_dir(actor, project)
    before = _outside(actor, host)
    try:
        calls = _verbs(actor, project, host, plants)
        leaked = hostile.leaks(
            [*(d.strip() for d in host.sentinels.values()), *SECRETS],
            [
                project,
                state / "home",
                state / "upper",
                *(d / "meta.json" for d in _layers(actor, state)),
            ],
        )
        actor.sh("rm -f devbox.toml", cwd=project)  # a dead project: gc deletes its state
        calls.append(hostile.call(actor, "gc", cwd=actor.work, env=ENV, timeout=SHORT))
    finally:
        hostile.kill_leftovers(str(state))
    after = _outside(actor, host)
    problems = [p for c in calls for p in c.problems(own_output=c.args[0] not in ("run", "shell"))]
    problems += [f"changed on the host: {f}" for f in changed(host.sentinels)]
    for where, was in before.items():
        problems += [f"new in {where}: {n!r}" for n in sorted(after[where] - was)]
    problems += [f"a host secret copied into the box or the store: {x}" for x in leaked]
    plan = "\n  ".join(str(p) for p in plants)
    took = ", ".join(f"{c.args[0]} {c.rc} {c.seconds:.0f}s" for c in calls)
    said = "\n".join(
        f"  {' '.join(c.args)[:40]!r}: {c.stderr.strip()[-300:]!r}" for c in calls if c.rc
    )
    missed = "\n  ".join(str(p) for p in host.missed) or "none"
    report = (
        f"tier {actor.tier}, plants:\n  {plan}\nnot in place after planting (the box could not, "
        f"or devbox removed them):\n  {missed}\ncalls (status, time): {took}\n"
        f"what failing calls said:\n{said}\nproblems:\n" + "\n".join(problems)
    )
    assert problems == [], report


def _toml_string(text: str) -> str:
    import json

    return json.dumps(text)  # a TOML basic string: JSON's escapes are TOML's


def _layers(actor: Actor, state: Path) -> list[Path]:
    """The directories of the layers the box is made of, bottom first."""
    try:
        stack = (state / "upper.stack").read_text().split()
    except OSError:
        return []
    return [actor.store() / "layers" / d for d in stack]
