"""A shell that holds its box up hands its hold to every command it runs, and so to the box's
processes: what they can do with it is write into the holds FIFO or keep it open. Neither keeps
the box up after they are gone, nor blocks the shell or the next activation; the FIFO's path is
devbox's, never in the box."""

from __future__ import annotations

import shlex
import time

import pytest

from devbox.sandbox import sessions
from devbox.store.paths import ProjectPaths, project_id
from tests.security.actors import Actor

pytestmark = pytest.mark.integration

# In the box: flood the inherited hold (fd 9) for a second (a full pipe blocks the writer, not
# the shell), then look for the FIFO's path, which no bind names.
FLOOD = 'timeout 1 sh -c "cat /dev/zero >&9" ; ls "$1" 2>/dev/null || echo not-in-box'


def test_a_box_process_with_the_shells_hold_cannot_keep_the_box_up(actor: Actor) -> None:
    p = actor.project("holds")
    assert actor.devbox("allow", cwd=p).returncode == 0
    r = actor.devbox("run", "--", "true", cwd=p)  # writes its launcher
    assert r.returncode == 0, r.stderr
    paths = ProjectPaths(actor.store() / "projects" / project_id(p))
    fifo, launcher = str(paths.holds), str(paths.launcher)
    # a holding shell (as the hook does: one digit fd, read and write) runs the flood in the box
    script = (
        f"exec 9<>{shlex.quote(fifo)} || exit 9\n"
        f"{shlex.quote(launcher)} sh -c {shlex.quote(FLOOD)} sh {shlex.quote(fifo)}\n"
    )
    started = time.monotonic()
    r = actor.sh(script, cwd=p, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "not-in-box", r.stdout
    assert time.monotonic() - started < 30
    # the shell and the box's process are gone: the box goes after its linger (2 s, ticks of 2)
    deadline = time.monotonic() + 15
    while sessions.supervisor_pid(paths) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sessions.supervisor_pid(paths) is None, "the flooded FIFO kept the box up"
    # the next holding shell opens it at once and the box still starts and goes
    r = actor.sh(
        f"exec 9<>{shlex.quote(fifo)} || exit 9\n{shlex.quote(launcher)} true", cwd=p, timeout=60
    )
    assert r.returncode == 0, r.stderr
