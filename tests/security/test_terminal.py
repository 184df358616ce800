"""A terminal's signals reach the program in the box, in every tier: Ctrl-C in the Python REPL
or in a loop with a SIGINT handler, run through `devbox run` (Python's entry and the launcher's,
through the front) and through a shim, in a real terminal (pexpect). The session no longer
leaves the program without the terminal (bwrap's --new-session); that TIOCSTI stays refused is
test_session.py's."""

from __future__ import annotations

import shlex
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest

from devbox.store.paths import launcher_path
from tests.security.actors import Actor, spawn

pytestmark = pytest.mark.integration

FRONT = Path(__file__).resolve().parents[2] / "devbox" / "front.sh"
SPEC = """\
[box]
name = "ctrlc"
base = "debian:bookworm"

[packages]
apt = ["python3"]

[shell]
expose = ["python3"]
"""
# prints a word that its command line does not hold (a terminal echoes what is typed)
# (the handler writes with os.write: the signal may come while print still flushes "looping")
LOOP = (
    "import os, signal, sys, time\n"
    "signal.signal(signal.SIGINT, lambda *a: sys.exit(os.write(1, b'handled SIGINT\\n') and 7))\n"
    "print('loop' + 'ing', flush=True)\n"
    "while True: time.sleep(0.05)\n"
)
SLEEPER = "import time\nprint('sleep' + 'ing', flush=True)\ntime.sleep(60)\n"
ENTRIES = ["python", "front", "shim"]
Entry = Callable[..., list[str]]  # (python3's arguments) -> argv that runs python3 in the box


@pytest.fixture
def ctrlc(actor: Actor) -> Path:
    p = actor.project("ctrl-c", SPEC)
    for verb in ("build", "allow"):
        r = actor.devbox(verb, cwd=p)
        assert r.returncode == 0, r.stdout + r.stderr
    return p


def _entry(actor: Actor, project: Path, how: str) -> Entry:
    """How python3 is started: `devbox -v run` (Python's entry: an option keeps the front and
    fastpath off the launcher), the front's `devbox run` (the launcher, sourced) or the shim."""
    if how == "python":
        return lambda *args: [actor.python(), "-m", "devbox", "-v", "run", "--", "python3", *args]
    r = actor.devbox("run", "--", "true", cwd=project)  # writes the launcher
    assert r.returncode == 0, r.stdout + r.stderr
    assert launcher_path(project, actor.store()).is_file()
    if how == "front":
        front = actor.work / "devbox"
        shutil.copyfile(FRONT, front)
        front.chmod(0o755)
        actor.own(front)
        return lambda *args: ["/bin/sh", str(front), "run", "--", "python3", *args]
    activate = shlex.join([actor.python(), "-m", "devbox", "activate", "bash"])
    script = 'eval "$(' + activate + ')" && command -v python3'
    r = actor.sh(f"exec bash -c {shlex.quote(script)}", cwd=project)
    shim = r.stdout.strip()
    assert r.returncode == 0 and "/shims/" in shim, r.stdout + r.stderr
    return lambda *args: [shim, *args]


@pytest.mark.parametrize("how", ENTRIES)
def test_ctrl_c_reaches_the_python_repl(actor: Actor, ctrlc: Path, how: str) -> None:
    """The REPL says KeyboardInterrupt and goes on, as on the host; `exit()` then gives 0."""
    child = spawn(actor, _entry(actor, ctrlc, how)("-q"), ctrlc)
    child.expect_exact(">>> ")
    child.sendline("n = 41")
    child.expect_exact(">>> ")
    child.sendintr()
    i = child.expect(["KeyboardInterrupt", pexpect.EOF])
    assert i == 0, f"the session ended: {child.before!r}"
    child.expect_exact(">>> ")
    child.sendline("print(n + 1)")
    child.expect_exact("42")
    child.sendline("exit()")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, (child.exitstatus, child.signalstatus)


@pytest.mark.parametrize("how", ENTRIES)
def test_a_loop_with_a_handler_decides_its_exit_status(actor: Actor, ctrlc: Path, how: str) -> None:
    child = spawn(actor, _entry(actor, ctrlc, how)("-c", LOOP), ctrlc)
    child.expect_exact("looping")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert "handled SIGINT" in str(child.before), child.before
    assert child.exitstatus == 7, (child.exitstatus, child.signalstatus, child.before)


@pytest.mark.parametrize("how", ENTRIES)
def test_a_script_keeps_the_terminal_and_stops_at_ctrl_c(
    actor: Actor, ctrlc: Path, how: str
) -> None:
    """A script run from the terminal calls python3 in the box twice, reads a line from the
    terminal (it is still the terminal's foreground), calls it a third time, and Ctrl-C stops
    the script there, as on the host: the program died of SIGINT, and the script's shell sees
    that."""
    py = shlex.join(_entry(actor, ctrlc, how)())
    script = (
        f"{py} -c pass && {py} -c pass && echo TWO-DONE && read -r line && "
        f'echo "READ:$line" && {py} -c {shlex.quote(SLEEPER)}; echo AFTER-THIRD'
    )
    child = spawn(actor, ["bash", "-c", script], ctrlc)
    child.expect_exact("TWO-DONE")
    child.sendline("typed")
    child.expect_exact("READ:typed")
    child.expect_exact("sleeping")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert "AFTER-THIRD" not in str(child.before), child.before
    assert child.signalstatus == signal.SIGINT, (child.exitstatus, child.signalstatus)
