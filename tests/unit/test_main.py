"""The one error handler (`devbox.__main__.main`) meeting an unexpected exception: a bug."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import devbox.activation.entry
import devbox.commands.listing
from devbox.__main__ import hoist_globals, main


@pytest.fixture
def buggy_ls(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def boom(st: object) -> list[str]:
        raise RuntimeError("boom in listing")

    monkeypatch.setattr(devbox.commands.listing, "listing", boom)
    previous = signal.getsignal(signal.SIGTERM)  # main() installs its own
    yield
    signal.signal(signal.SIGTERM, previous)


def test_a_bug_says_so_and_where_its_traceback_is(
    buggy_ls: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["ls"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    first, second = err.splitlines()
    assert (
        first == "devbox: internal error (this is a bug in devbox): RuntimeError: boom in listing"
    )
    log = Path(second.split("the traceback is in ", 1)[1].split(": please report", 1)[0])
    assert log.parent == tmp_path / "devbox-home" / "logs"  # the store's logs (conftest)
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "boom in listing" in text
    assert "argv: ['ls']" in text


def test_verbose_shows_the_traceback(buggy_ls: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--verbose", "ls"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert 'in boom\n    raise RuntimeError("boom in listing")' in err
    assert "this is a bug in devbox" in err


def test_no_log_when_the_store_cannot_hold_one(
    buggy_ls: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    store.mkdir(mode=0o700)
    (store / "logs").write_text("")  # the logs dir cannot be made
    monkeypatch.setenv("DEVBOX_HOME", str(store))
    assert main(["ls"]) == 1
    err = capsys.readouterr().err
    assert "this is a bug in devbox" in err
    assert "rerun with --verbose for the traceback" in err


# -- --verbose is devbox's own option, not the command's -----------------------------------------


@pytest.fixture
def buggy_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """`devbox run` (the fast path, no CLI framework) meeting a bug; no launcher to exec."""

    def boom(command: object, *, root: bool, display: object, named: bool = False) -> None:
        raise RuntimeError("boom in run")

    monkeypatch.setattr(devbox.activation.entry, "enter_box", boom)
    monkeypatch.chdir(tmp_path)  # no devbox.toml here: fastpath finds no launcher
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--", "grep", "--verbose", "x"],
        ["run", "--", "ls", "-v"],
        ["run", "make", "V=1", "--verbose"],
        ["-q", "run", "--", "cmd", "--verbose"],
        ["run", "--root", "--", "cmd", "-v"],
    ],
)
def test_the_commands_own_verbose_is_not_devboxs(
    buggy_run: None, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "boom in run" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--verbose", "run", "--", "cmd"],
        ["-v", "run", "--", "cmd"],
        ["-q", "-v", "run", "--", "cmd"],
        ["--quiet", "--verbose", "run", "cmd", "--verbose"],
    ],
)
def test_devboxs_verbose_before_the_verb_shows_the_traceback(
    buggy_run: None, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "boom in run" in err


@pytest.mark.parametrize(
    "argv", [["ls", "--verbose"], ["ls", "-v"], ["ls", "-qv"], ["run", "-v", "--", "cmd"]]
)
def test_verbose_after_the_verb_is_devboxs_too(
    buggy_ls: None, buggy_run: None, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "boom in" in err


@pytest.mark.parametrize(
    ("argv", "hoisted"),
    [
        (["build", "-v"], ["-v", "build"]),
        (["-q", "status", "--verbose"], ["-q", "--verbose", "status"]),
        (["build", "--locked", "-q"], ["-q", "build", "--locked"]),
        (["run", "--root", "-v", "--", "ls", "-q"], ["-v", "run", "--root", "--", "ls", "-q"]),
        (["run", "ls", "-v"], ["run", "ls", "-v"]),
        (["shell", "-q"], ["-q", "shell"]),
        (["hook", "bash", "-v"], ["-v", "hook", "bash"]),
        (["gc", "--", "-v"], ["gc", "--", "-v"]),
        (["_shim", "x", "-v"], ["_shim", "x", "-v"]),
        (["-v"], ["-v"]),
    ],
)
def test_global_flags_after_the_verb_move_before_it(argv: list[str], hoisted: list[str]) -> None:
    assert hoist_globals(argv) == hoisted


# -- the CLI framework's exits, told by class ------------------------------------------------------


def _ls_raises(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def raising(st: object) -> list[str]:
        raise exc

    monkeypatch.setattr(devbox.commands.listing, "listing", raising)


@pytest.fixture
def sigterm_kept() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_a_usage_error_exits_2_with_the_usage(
    sigterm_kept: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ls", "--no-such-flag"]) == 2
    err = capsys.readouterr().err
    assert "Usage: devbox ls" in err and "No such option: --no-such-flag" in err
    assert main(["frobnicate"]) == 2
    assert "Usage: devbox" in capsys.readouterr().err


def test_a_bad_parameter_from_a_command_exits_2(
    sigterm_kept: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    class NotHere(typer.BadParameter):  # a usage error by class, whatever its name
        pass

    _ls_raises(monkeypatch, NotHere("not here"))
    assert main(["ls"]) == 2
    assert "not here" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["Abort", "Cancelled"])
def test_an_abort_exits_130(
    sigterm_kept: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    import typer

    _ls_raises(monkeypatch, type(name, (typer.Abort,), {})())
    assert main(["ls"]) == 130
    assert capsys.readouterr().err == "devbox: interrupted\n"


def test_a_cli_exit_gives_its_status(sigterm_kept: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    _ls_raises(monkeypatch, typer.Exit(3))
    assert main(["ls"]) == 3


class Exit(RuntimeError):
    """A bug's own exception that merely shares a name with the CLI framework's."""

    exit_code = 0


class UsageError(Exception):
    exit_code = 2

    def show(self) -> None:
        print("looks like usage", file=sys.stderr)


@pytest.mark.parametrize("exc", [Exit("not the framework's"), UsageError("nor this")])
def test_an_exception_named_like_the_frameworks_is_still_a_bug(
    sigterm_kept: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exc: Exception,
) -> None:
    _ls_raises(monkeypatch, exc)
    assert main(["ls"]) == 1
    err = capsys.readouterr().err
    assert f"internal error (this is a bug in devbox): {type(exc).__name__}: {exc}" in err
