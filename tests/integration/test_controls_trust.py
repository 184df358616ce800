"""Trust covers the controls: once a project is allowed, a spec that widens what its box can
reach or share (its network from "none" to "host", the display, a bind of the home, looser
limits) deactivates it in the hook and its shims refuse it, each saying so in one line, until
`devbox allow` again. Nothing here builds: the refusals come first."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from tests.helpers import Devbox, MakeProject

pytestmark = pytest.mark.integration

SPEC = """\
[box]
name = "ctltrust"
base = "debian:bookworm"
network = "none"

[limits]
memory = "512M"

[shell]
expose = ["sh"]
"""
WIDENINGS = [
    ('network = "none"', 'network = "host"'),
    ("[shell]", "[share]\ndisplay = true\n\n[shell]"),
    ("display = true", 'display = true\nbinds = [{ host = "~", box = "/host-home", mode = "rw" }]'),
    ('memory = "512M"', 'memory = "64G"'),
]
CHANGED = "changed since it was allowed; `devbox allow` trusts it again"


def hook_in(devbox: Devbox, project: Path) -> tuple[str, str, str]:
    """cd into `project` in a bash with the devbox hook, as a prompt would: (the active box,
    the first PATH entry, what the hook printed)."""
    hook = shlex.join(devbox.argv("hook", "bash"))
    script = (
        f'eval "$({hook})"; cd {shlex.quote(str(project))} && _devbox_hook; '
        'printf "%s\\n" "${DEVBOX_ACTIVE-}" "${PATH%%:*}"'
    )
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=devbox.env(),
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    active, first = r.stdout.splitlines()[-2:]
    return active, first, r.stderr


def test_a_spec_that_widens_its_controls_is_refused_until_allowed_again(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project = make_project("controls trust", SPEC)
    spec = project / "devbox.toml"
    devbox("allow", cwd=project, check=True)
    active, shims, said = hook_in(devbox, project)
    assert active == "ctltrust", said
    for old, new in WIDENINGS:
        text = spec.read_text()
        assert old in text
        spec.write_text(text.replace(old, new, 1))
        active, _, said = hook_in(devbox, project)
        assert active == "", f"{new!r} activated without an allow"
        assert CHANGED in said and said.count("\n") == 1, said
        r = subprocess.run([f"{shims}/sh", "-c", "echo ran"], cwd=project, env=devbox.env(),
                           capture_output=True, text=True, timeout=300)  # fmt: skip
        assert (r.returncode, r.stdout) == (1, ""), f"a shim ran {new!r} unallowed: {r.stdout}"
        assert CHANGED in r.stderr and r.stderr.count("\n") == 1, r.stderr
        r = devbox("allow", cwd=project, check=True)
        assert "devbox: allowed" in r.stderr, r.stderr
        assert hook_in(devbox, project)[0] == "ctltrust", f"allowed with {new!r}"
    status = devbox("status", cwd=project, check=True).stdout
    assert "network:  the host's (shared)" in status, status
    assert "bind: ~ -> /host-home (rw)" in status, status
