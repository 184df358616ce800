"""What a build says when it fails: real builds with the real Debian archive."""

from __future__ import annotations

from pathlib import Path

import pytest

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
