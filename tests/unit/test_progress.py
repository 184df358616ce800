"""The build display and run_logged (which runs tiny /bin/sh commands: that is its job)."""

from __future__ import annotations

import ast
import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devbox.build import progress
from devbox.build.progress import Display, run_logged
from devbox.errors import DevboxError


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


# -- Display -------------------------------------------------------------------------------------


def test_info_prints_lines_unless_quiet() -> None:
    out = io.StringIO()
    Display(stream=out).info("hello")
    Display(stream=out).done("done")
    Display(stream=out, quiet=True).info("hidden")
    assert out.getvalue() == "hello\ndone\n"


def test_status_is_silent_when_not_a_terminal() -> None:
    out = io.StringIO()
    display = Display(stream=out)
    assert display.live is False
    display.status("working")
    assert out.getvalue() == ""


@pytest.mark.parametrize(("quiet", "verbose"), [(True, False), (False, True)])
def test_status_is_silent_on_a_terminal_when_quiet_or_verbose(quiet: bool, verbose: bool) -> None:
    out = Tty()
    display = Display(stream=out, quiet=quiet, verbose=verbose)
    assert display.live is False
    display.status("working")
    assert out.getvalue() == ""


def test_status_on_a_terminal_is_one_rewritten_line_cleared_by_info(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress, "_columns", lambda: 31)
    out = Tty()
    display = Display(stream=out)
    assert display.live is True
    display.status("short")
    display.status("x" * 50)
    display.info("next")
    assert out.getvalue() == "\r\x1b[Kshort" + "\r\x1b[K" + "x" * 30 + "\r\x1b[K" + "next\n"


def test_status_keeps_a_minimum_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_columns", lambda: 5)
    out = Tty()
    Display(stream=out).status("y" * 50)
    assert out.getvalue() == "\r\x1b[K" + "y" * 20


# -- run_logged ----------------------------------------------------------------------------------


def test_output_goes_to_the_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "build.log"  # its directory is created
    out = io.StringIO()
    run_logged(sh("echo out; echo err >&2"), log=log, display=Display(stream=out), label="step")
    assert log.read_text() == "\n$ /bin/sh -c echo out; echo err >&2\nout\nerr\n"
    assert out.getvalue() == ""  # not verbose, not a terminal: nothing shown


def test_runs_append_to_the_log(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_text("earlier\n")
    display = Display(stream=io.StringIO())
    run_logged(sh("echo one"), log=log, display=display, label="a")
    run_logged(sh("echo two"), log=log, display=display, label="b")
    assert (
        log.read_text() == "earlier\n\n$ /bin/sh -c echo one\none\n\n$ /bin/sh -c echo two\ntwo\n"
    )


def test_verbose_shows_the_output_too(tmp_path: Path) -> None:
    out = io.StringIO()
    display = Display(stream=out, verbose=True)
    run_logged(sh("echo visible"), log=tmp_path / "l", display=display, label="x")
    assert out.getvalue() == "visible\n"


def test_env_is_exactly_what_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST_ONLY", "leak")
    log = tmp_path / "l"
    env = {"GREETING": "hi there"}
    script = 'echo "[$GREETING] [${HOST_ONLY-unset}]"'
    run_logged(sh(script), log=log, display=Display(stream=io.StringIO()), label="x", env=env)
    assert log.read_text().splitlines()[-1] == "[hi there] [unset]"


def test_stdin_is_not_inherited(tmp_path: Path) -> None:
    log = tmp_path / "l"
    run_logged(sh("cat; echo end"), log=log, display=Display(stream=io.StringIO()), label="x")
    assert log.read_text().splitlines()[-1] == "end"


def test_a_live_display_shows_the_last_output_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "_columns", lambda: 200)
    out = Tty()
    run_logged(
        sh("echo first; echo last"), log=tmp_path / "l", display=Display(stream=out), label="apt"
    )
    shown = out.getvalue()
    assert shown.startswith("\r\x1b[Kapt  ")
    assert shown.rstrip().endswith("last")


def test_a_failure_raises_naming_the_log_with_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    script = 'i=0; while [ "$i" -lt 20 ]; do i=$((i+1)); echo "line $i"; done; exit 3'
    with pytest.raises(DevboxError) as info:
        run_logged(sh(script), log=log, display=Display(stream=io.StringIO()), label="apt layer")
    err = info.value
    assert err.log == str(log)
    lines = err.message.split("\n")
    assert lines[0] == "apt layer failed (exit status 3)"
    assert lines[1] == "  its last lines:"
    assert lines[2:] == [f"    line {i}" for i in range(13, 21)]  # the last 8
    assert f"full log: {log}" in err.render()
    assert "line 20" in log.read_text()


def test_a_short_failure_shows_its_output(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    display = Display(stream=io.StringIO())
    with pytest.raises(DevboxError) as info:
        run_logged(sh("echo oops >&2; exit 1"), log=log, display=display, label="setup")
    lines = info.value.message.split("\n")
    assert lines[0] == "setup failed (exit status 1)"
    assert not any("/bin/sh" in line for line in lines)  # what ran is in the log, not echoed
    assert lines[-1] == "    oops"


def test_a_missing_program_raises(tmp_path: Path) -> None:
    with pytest.raises(DevboxError, match="cannot run /nonexistent/tool"):
        run_logged(
            ["/nonexistent/tool"],
            log=tmp_path / "l",
            display=Display(stream=io.StringIO()),
            label="x",
        )


def test_output_without_a_final_newline_is_kept(tmp_path: Path) -> None:
    log = tmp_path / "l"
    run_logged(sh("printf 'no newline'"), log=log, display=Display(stream=io.StringIO()), label="x")
    assert log.read_text().endswith("\nno newline")


# -- the tool dies with devbox, with no Python code between fork and exec ------------------------


def _spy_popen(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    calls: list[dict[str, object]] = []
    real = subprocess.Popen

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append({"argv": args[0], "threads": threading.active_count(), **kwargs})
        return real(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    return calls


def test_the_tool_is_started_without_a_preexec_fn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python code run in the child between fork and exec can deadlock when the parent has
    threads (devbox watch's observers): a lock held by another thread at fork stays held."""
    calls = _spy_popen(monkeypatch)
    run_logged(sh("echo hi"), log=tmp_path / "l", display=Display(stream=io.StringIO()), label="x")
    assert len(calls) == 1
    assert calls[0].get("preexec_fn") is None
    assert (tmp_path / "l").read_text().splitlines()[-1] == "hi"


def test_no_module_of_devbox_forks_with_a_preexec_fn() -> None:
    package = Path(progress.__file__).resolve().parents[1]
    users = [
        f"{p.relative_to(package.parent)}:{node.lineno}"
        for p in sorted(package.rglob("*.py"))
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Call) and any(k.arg == "preexec_fn" for k in node.keywords)
    ]
    assert users == []


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its new parent has not reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_the_tool_dies_when_devbox_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    code = (
        "import io, sys; from pathlib import Path\n"
        "from devbox.build.progress import Display, run_logged\n"
        "run_logged(['/bin/sh', '-c', 'echo $$ > \"$0\"; exec sleep 300', sys.argv[1]],\n"
        "           log=Path(sys.argv[2]), display=Display(stream=io.StringIO()), label='x')\n"
    )
    devbox = subprocess.Popen([sys.executable, "-c", code, str(pidfile), str(tmp_path / "log")])
    try:
        deadline = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text().endswith("\n")):
            assert devbox.poll() is None and time.monotonic() < deadline, "the tool never ran"
            time.sleep(0.02)
        tool = int(pidfile.read_text())
        assert not _gone(tool)
        devbox.kill()  # SIGKILL: no handler, no clean-up; only the parent-death signal is left
        devbox.wait()
        deadline = time.monotonic() + 10
        while not _gone(tool):
            assert time.monotonic() < deadline, "the tool outlived devbox"
            time.sleep(0.02)
    finally:
        if devbox.poll() is None:
            devbox.kill()
            devbox.wait()
        if pidfile.exists() and pidfile.read_text().strip():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_after_stopping_a_further_ctrl_c_is_told_not_raised() -> None:
    """In a process of its own (it changes signal handlers): once a build is stopping, SIGINT
    and SIGTERM print a line and raise nothing; `uninterrupted` restores the handlers."""
    code = (
        "import os, signal, sys\n"
        "from devbox.build.progress import Display, uninterrupted\n"
        "d = Display(stream=sys.stdout)\n"
        "with uninterrupted(d):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "print('survived', signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
        "d.stopping('[2/3] setup')\n"
        "os.kill(os.getpid(), signal.SIGINT); os.kill(os.getpid(), signal.SIGTERM)\n"
        "d.stopping('[2/3] setup')\n"
        "print('done')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    told = "devbox: still removing the unfinished layer; stopping right after"
    assert lines == [
        told,
        "survived True",
        "[2/3] setup: stopping… (removing the unfinished layer: nothing is left behind)",
        told,
        told,
        "done",
    ]
