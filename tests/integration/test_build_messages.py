"""What a build says when it fails, and before it resets the box's writable layer: real builds
with the real Debian archive, through a pipe and through a real terminal (pexpect)."""

from __future__ import annotations

from pathlib import Path

import pexpect
import pytest

from devbox.store.paths import project_id
from tests.helpers import Devbox, MakeProject, layer_dirs

pytestmark = pytest.mark.integration

# lines of devbox's own generated scripts, which a failure must not echo
SCRIPT_LINES = ("set -eu", "dpkg-query", "DEBIAN_FRONTEND", "/bin/sh -c", "mount -t overlay",
                "apt-get -o", "bwrap")  # fmt: skip


def _log_of(stderr: str) -> Path:
    assert "full log: " in stderr, stderr
    return Path(stderr.split("full log: ")[1].split("\n")[0].strip())


def _error_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("devbox: error:"))


def _no_script(stderr: str) -> None:
    for line in SCRIPT_LINES:
        assert line not in stderr, (line, stderr)
    assert "Traceback" not in stderr


def test_a_misspelt_apt_package_is_named_in_devboxs_words(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project = make_project(
        "nosuch", '[box]\nbase = "debian:bookworm"\n[packages]\napt = ["tree", "nosuchpkg"]\n'
    )
    devbox("build", cwd=make_project("base", '[box]\nbase = "debian:bookworm"\n'), check=True)
    before = layer_dirs(devbox.store)
    r = devbox("build", cwd=project)
    assert r.returncode == 1, r.stderr
    assert "apt has no package nosuchpkg in bookworm" in r.stderr, r.stderr
    assert "[2/2] apt" in _error_line(r.stderr)  # the layer that failed, first
    _no_script(r.stderr)
    log = _log_of(r.stderr)
    assert "Unable to locate package nosuchpkg" in log.read_text()  # the raw log has apt's words
    assert layer_dirs(devbox.store) == before


def test_a_failing_setup_step_is_named_with_its_first_error(
    devbox: Devbox, make_project: MakeProject
) -> None:
    spec = (
        '[box]\nbase = "debian:bookworm"\n[setup]\n'
        'run = ["echo fine", "cat /no/such/file; echo later; exit 4", "echo never"]\n'
    )
    project = make_project("bad setup", spec)
    r = devbox("build", cwd=project)
    assert r.returncode == 1, r.stderr
    first = _error_line(r.stderr)
    assert "setup step 2/3" in first and "cat /no/such/file; echo later; exit 4" in first, first
    assert "exit status 4" in r.stderr
    assert "cat: /no/such/file: No such file or directory" in r.stderr
    _no_script(r.stderr)
    text = _log_of(r.stderr).read_text()
    assert "later" in text and "never" not in text.split("devbox: setup step 2/3")[-1]


WRITABLE = '[box]\nname = "keep"\nbase = "debian:bookworm"\n[setup]\nrun = ["echo STEP"]\n'


@pytest.fixture
def changed_box(devbox: Devbox, make_project: MakeProject) -> Path:
    """A built box whose writable layer has a file in it, and a changed spec."""
    project = make_project("writable", WRITABLE.replace("STEP", "one"))
    devbox("build", cwd=project, check=True)
    devbox("run", "--", "sh", "-c", "mkdir -p /opt/mine && echo kept > /opt/mine/f", cwd=project,
           check=True)  # fmt: skip
    (project / "devbox.toml").write_text(WRITABLE.replace("STEP", "two"))
    return project


def _upper(devbox: Devbox, project: Path) -> Path:
    return devbox.store / "projects" / project_id(project) / "upper"


def test_a_rebuild_warns_before_it_resets_the_writable_layer(
    devbox: Devbox, changed_box: Path
) -> None:
    r = devbox("build", cwd=changed_box)  # not a terminal: warn, and go on
    assert r.returncode == 0, r.stderr
    warning = r.stderr.split("[1/2]")[0]  # said before any layer is looked at
    assert "writable layer" in warning and "/opt" in warning, r.stderr
    assert "[setup]" in warning and "venv" in warning
    r = devbox("run", "--", "cat", "/opt/mine/f", cwd=changed_box)
    assert r.returncode == 1  # reset, as it said
    # nothing in the writable layer: nothing to warn about
    (changed_box / "devbox.toml").write_text(WRITABLE.replace("STEP", "three"))
    devbox("reset", cwd=changed_box, check=True)
    r = devbox("build", cwd=changed_box, check=True)
    assert "writable layer" not in r.stderr
    # `devbox run` that builds first says it too (and asks nothing)
    devbox("run", "--", "sh", "-c", "mkdir -p /opt/mine && echo kept > /opt/mine/f",
           cwd=changed_box, check=True)  # fmt: skip
    (changed_box / "devbox.toml").write_text(WRITABLE.replace("STEP", "four"))
    r = devbox("run", "--", "true", cwd=changed_box, check=True)
    assert "writable layer" in r.stderr.split("building keep first")[0], r.stderr
    # and `devbox lock`, which builds too
    devbox("run", "--", "sh", "-c", "mkdir /opt/mine", cwd=changed_box, check=True)
    (changed_box / "devbox.toml").write_text(WRITABLE.replace("STEP", "five"))
    r = devbox("lock", cwd=changed_box, check=True)
    assert "writable layer" in r.stderr.split("[1/2]")[0], r.stderr


@pytest.mark.parametrize("answer", ["n", "end of input"])
def test_on_a_terminal_a_rebuild_asks_before_resetting(
    devbox: Devbox, changed_box: Path, answer: str
) -> None:
    before = layer_dirs(devbox.store)
    argv = devbox.argv("build")
    child = pexpect.spawn(argv[0], argv[1:], cwd=str(changed_box), env=devbox.env(),
                          encoding="utf-8", timeout=300)  # fmt: skip
    child.expect(r"\[Y/n\]")
    if answer == "n":
        child.sendline("n")
    else:
        child.sendeof()  # Ctrl-D is not a yes
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1, child.before
    assert "nothing was built" in str(child.before)
    assert "Traceback" not in str(child.before)
    assert layer_dirs(devbox.store) == before
    assert (_upper(devbox, changed_box) / "opt/mine/f").read_text() == "kept\n"
    # --yes: no question
    argv = devbox.argv("build", "--yes")
    child = pexpect.spawn(argv[0], argv[1:], cwd=str(changed_box), env=devbox.env(),
                          encoding="utf-8", timeout=300)  # fmt: skip
    index = child.expect([r"\[Y/n\]", pexpect.EOF])
    child.close()
    assert index == 1 and child.exitstatus == 0, child.before
    assert "writable layer" in str(child.before)  # still said


def test_on_a_terminal_a_locked_build_the_lock_refuses_asks_nothing(
    devbox: Devbox, changed_box: Path
) -> None:
    """`--locked` with a spec the lock does not cover fails at once: no question first about a
    reset that cannot happen."""
    spec = changed_box / "devbox.toml"
    spec.write_text(spec.read_text() + '[packages]\napt = ["jq"]\n')  # the lock has no [apt]
    argv = devbox.argv("build", "--locked")
    child = pexpect.spawn(argv[0], argv[1:], cwd=str(changed_box), env=devbox.env(),
                          encoding="utf-8", timeout=300)  # fmt: skip
    index = child.expect([r"\[Y/n\]", pexpect.EOF])
    child.close(force=True)
    assert index == 1, "asked before refusing"
    assert child.exitstatus == 1, child.before
    assert "`--locked`" in str(child.before) and "writable layer" not in str(child.before)
    assert (_upper(devbox, changed_box) / "opt/mine/f").read_text() == "kept\n"
