"""How a failed build step is told (build.failure): the apt, [setup] and plain cases, from the
output real apt and real steps print."""

from __future__ import annotations

from pathlib import Path

from devbox.build.failure import explain

LOG = Path("/store/logs/x.log")

APT = """\
Reading package lists...
Building dependency tree...
E: Unable to locate package nosuchpkg
E: Unable to locate package alsonot
"""


def test_apt_not_finding_a_package_is_said_in_devboxs_words() -> None:
    e = explain("[2/2] apt tree nosuchpkg", 100, APT, LOG, "bookworm")
    assert e.message == (
        "[2/2] apt tree nosuchpkg failed: apt has no package nosuchpkg in bookworm; "
        "apt has no package alsonot in bookworm"
    )
    assert e.hint is not None and "packages.debian.org/bookworm" in e.hint
    assert e.log == str(LOG)


def test_a_package_without_a_candidate() -> None:
    out = "E: Package 'python2' has no installation candidate\n"
    e = explain("[2/2] apt python2", 100, out, LOG, "bookworm")
    assert "apt knows python2 in bookworm but has no version of it to install" in e.message


SETUP = """\
devbox: setup step 1/3: echo fine
fine
devbox: setup step 2/3: make
gcc -c x.c
x.c:1:10: fatal error: Python.h: No such file or directory
compilation terminated.
make: *** [Makefile:2: x.o] Error 1
"""


def test_a_setup_step_is_named_with_its_first_error() -> None:
    e = explain("[3/3] setup", 2, SETUP, LOG)
    lines = e.message.splitlines()
    assert lines[0] == "[3/3] setup failed at setup step 2/3: make (exit status 2)"
    error = "x.c:1:10: fatal error: Python.h: No such file or directory"
    assert lines[1] == f"  the first error: {error}"
    assert "    make: *** [Makefile:2: x.o] Error 1" in lines
    assert "    fine" not in lines  # step 1's output is not this failure's


def test_nothing_printed_and_the_disk_full() -> None:
    assert "it printed nothing" in explain("x", 1, "\n\n", LOG).message
    full = explain("x", 1, "cp: write error: No space left on device\n", LOG)
    assert "the disk is full" in full.message and "/store" in full.message


def test_an_apt_warning_is_not_taken_for_the_error() -> None:
    out = "W: Download is performed unsandboxed as root\nE: Sub-process /usr/bin/dpkg returned 1\n"
    e = explain("[2/2] apt x", 100, out, LOG, "bookworm")
    assert "the first error: E: Sub-process /usr/bin/dpkg returned 1" in e.message
