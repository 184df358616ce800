"""`cd` into an allowed, unchanged project: the hook activates it from what devbox kept, without
starting devbox, in real interactive bash, zsh and fish (pexpect). A changed lock sends it to
devbox once, which says what changed; `devbox allow` and `deny` are seen at the next `cd`.
No box is built: activation is the hook's business."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox.activation.hook import runner_code
from tests.helpers import Devbox, MakeProject
from tests.integration.test_hook import SHELLS, Shell, StartShell, settle, start

pytestmark = pytest.mark.integration
__all__ = ["start"]  # the fixture, shared with test_hook.py

SPEC = """\
[box]
name = "keptbox"
base = "debian:bookworm"

[env]
files = [".env"]
KEPT = "it's ${FROM_DOTENV} ü"

[shell]
expose = ["python3"]
"""
CALLED = "CALLED-DEVBOX"
ACTIVE = 'echo "${DEVBOX_ACTIVE-}|${KEPT-}"'
FISH_ACTIVE = 'echo "$DEVBOX_ACTIVE|$KEPT"'


def trace_devbox(sh: Shell) -> None:
    """From now on, every start of devbox by the hook prints CALLED (on stderr) first."""
    runner = runner_code(sh.name)
    if sh.name == "fish":
        sh.run(f"function _devbox_run; echo {CALLED} >&2; {runner} $argv; end")
    else:
        sh.run(f'_devbox_run() {{ echo {CALLED} >&2; {runner} "$@"; }}')


def active(sh: Shell) -> str:
    return sh.line(FISH_ACTIVE if sh.name == "fish" else ACTIVE)


@pytest.mark.parametrize("shell", SHELLS)
def test_cd_into_an_unchanged_project_starts_no_devbox(
    start: StartShell, devbox: Devbox, make_project: MakeProject, tmp_path: Path, shell: str
) -> None:
    project = make_project(
        f"kept {shell} ü", SPEC, {"devbox.lock": "# lock\n", ".env": "FROM_DOTENV=dot\n"}
    )
    (project / "sub").mkdir()
    trust_dir = devbox.store / "state" / "trust"
    watched = [project / "devbox.toml", project / "devbox.lock", project / ".env", trust_dir]
    devbox("allow", cwd=project, check=True)
    settle(*watched)
    sh: Shell = start(shell, tmp_path)
    trace_devbox(sh)
    said = sh.cd(project)
    assert said.count(CALLED) == 1, said
    assert active(sh) == "keptbox|it's dot ü"
    env = sh.env()
    sh.cd("/")
    # again, from another directory of the project: kept, no devbox
    said = sh.cd(project / "sub")
    assert CALLED not in said, said
    assert active(sh) == "keptbox|it's dot ü"
    assert sh.env() == env
    sh.cd("/")
    assert active(sh) == "|"
    # the lock changed: devbox, once, says what changed and activates nothing
    (project / "devbox.lock").write_text("# changed\n")
    settle(*watched)
    said = sh.cd(project)
    assert said.count(CALLED) == 1, said
    assert "devbox.lock changed since you allowed this project" in said, said
    assert active(sh) == "|"
    sh.cd("/")
    # allowed again: devbox once (the trust changed), then kept again
    devbox("allow", cwd=project, check=True)
    settle(*watched)
    assert sh.cd(project).count(CALLED) == 1
    assert active(sh) == "keptbox|it's dot ü"
    sh.cd("/")
    assert CALLED not in sh.cd(project)
    assert active(sh) == "keptbox|it's dot ü"
    sh.cd("/")
    # denied: what was kept never activates it
    devbox("deny", cwd=project, check=True)
    settle(*watched)  # (fish looks again while the trust dir's mtime is within the second)
    said = sh.cd(project)
    assert said.count(CALLED) == 1, said
    assert "is not allowed to activate" in said, said
    assert active(sh) == "|"
