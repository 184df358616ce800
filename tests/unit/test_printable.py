"""What reaches the terminal is printable: paths, spec values and a box's output have their
control characters shown escaped, in errors, hints, reports and progress lines; and shell code
for the hook carries no raw control character either."""

from __future__ import annotations

import ast
import errno
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from devbox.activation.hook import quote
from devbox.build.progress import Display
from devbox.errors import DevboxError, SpecError, os_error, printable, terminal

HOSTILE = "a\nb\tc\x1b]0;pwned\x07\x1b[2J\x7f\x9b\u202e\udcff d\\e 'f' \"g\" ü"
RAW = ("\x1b", "\x07", "\x7f", "\x9b", "\u202e", "\udcff")
PACKAGE = Path(__file__).resolve().parents[2] / "devbox"


def _raw(text: str) -> list[str]:
    return [c for c in RAW if c in text]


def test_printable_escapes_every_control_character_and_keeps_the_rest() -> None:
    assert printable(HOSTILE) == (
        "a\\nb\\tc\\x1b]0;pwned\\x07\\x1b[2J\\x7f\\x9b\\u202e\\udcff d\\e 'f' \"g\" ü"
    )
    assert printable("plain /path with spaces/ü") == "plain /path with spaces/ü"


def test_terminal_keeps_a_message_s_lines_and_tabs_only() -> None:
    assert terminal("one\n\ttwo\x1b[2J\r") == "one\n\ttwo\\x1b[2J\\r"


def test_errors_render_printable_whatever_their_values() -> None:
    e = DevboxError(f"cannot use {HOSTILE}", hint=f"look at {HOSTILE}", log=HOSTILE)
    assert _raw(e.render()) == []
    assert "\\x1b]0;pwned" in e.render()
    spec = SpecError(HOSTILE, f"bad {HOSTILE}", key="box.name", line=3, allowed=HOSTILE)
    assert _raw(spec.render()) == []


def test_os_errors_name_their_files_printably() -> None:
    for name in (HOSTILE, HOSTILE.encode("utf-8", "surrogateescape")):
        text = os_error(FileNotFoundError(errno.ENOENT, "No such file or directory", name))
        assert _raw(text) == [] and "\n" not in text, text
        assert "\\x1b[2J" in text
    text = os_error(OSError(errno.EXDEV, "Invalid cross-device link", "a\x1b", None, "b\x1b"))
    assert text == "devbox: error: Invalid cross-device link: a\\x1b: b\\x1b"
    text = os_error(PermissionError(errno.EACCES, "Permission denied", "x\x1b"))
    assert text.splitlines()[0] == "devbox: error: Permission denied: x\\x1b"


def test_the_build_display_prints_only_printable_text() -> None:
    out = io.StringIO()
    display = Display(stream=out)
    display.info(f"built {HOSTILE}")
    display.live = True
    display.status(f"step {HOSTILE}")
    assert _raw(out.getvalue().replace("\r\x1b[K", "")) == [], out.getvalue()
    assert "\\x1b]0;pwned" in out.getvalue()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_hook_quoting_stands_for_the_exact_bytes_without_raw_controls(shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.fail(f"{shell} is missing: ./scripts/test installs it")
    value = HOSTILE + "$(touch pwned) `touch pwned` $HOME %s"
    code = quote(shell, value)
    assert [c for c in code if not c.isprintable() and c != " "] == [], code
    r = subprocess.run([shell, "-c", f"printf %s {code}"], capture_output=True, check=True)
    assert r.stdout == value.encode("utf-8", "surrogateescape")
    assert quote(shell, "plain ü") == "'plain ü'"


# Every call that prints in the package passes text made printable (or devbox's own fixed text).
# The calls that print something else, each reviewed: shell code whose values are quoted (and
# have no raw control character, see above), the terminal's own line clearing, and the seccomp
# wrapper's message (a program run on its own, without devbox: it names a build tool devbox chose).
SANITIZERS = {"terminal", "printable", "render", "os_error"}
REVIEWED = {
    ("cli.py", "typer.echo(terminal(line))"),
    ("cli.py", 'typer.echo(f"devbox {__version__}")'),
    ("cli_shell.py", "typer.echo(hook_text(shell), nl=False)"),
    ("cli_shell.py", "typer.echo(activate_text(shell, spec.path), nl=False)"),
    ("cli_shell.py", "typer.echo(script(ctx.find_root().command, shell), nl=False)"),
    ("activation/hook.py", "sys.stdout.write(hook_env(*args))"),
    ("build/progress.py", 'self.out.write("\\r\\x1b[K" + line)'),
    ("build/progress.py", 'self.out.write("\\r\\x1b[K")'),
    (
        "sandbox/seccomp.py",
        'sys.stderr.write(f"devbox: cannot run {argv[0]} under the seccomp filter: {e}\\n")',
    ),
}


def _prints(call: ast.Call) -> bool:
    f = call.func
    if isinstance(f, ast.Name):
        return f.id == "print"
    if not isinstance(f, ast.Attribute):
        return False
    if f.attr == "echo":
        return True
    if f.attr != "write":
        return False
    target = ast.unparse(f.value)
    return target.endswith(("sys.stderr", "sys.stdout", ".out"))


def _safe(arg: ast.expr) -> bool:
    if isinstance(arg, ast.Constant):
        return True
    if isinstance(arg, ast.Call):
        f = arg.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        return name in SANITIZERS
    return False


def test_every_print_in_devbox_goes_through_printable() -> None:
    unsafe = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _prints(node) and node.args:
                seg = ast.get_source_segment(path.read_text(), node) or ""
                if not _safe(node.args[0]) and (rel, seg) not in REVIEWED:
                    unsafe.append(f"{rel}:{node.lineno}: {seg}")
    assert unsafe == [], "print these through errors.terminal or errors.printable"


def test_usage_errors_and_internal_errors_print_the_user_s_words_printably(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    from devbox.__main__ import main

    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert main(["ls", "--no\x1b]0;pwned\x07"]) == 2
        err = capsys.readouterr().err
        assert "No such option: --no\\x1b]0;pwned\\x07" in err and _raw(err) == [], err
        assert main(["st\x1b[2J"]) == 2
        err = capsys.readouterr().err
        assert "st\\x1b[2J" in err and _raw(err) == [], err

        def bug() -> list[str]:
            raise KeyError("a\x1b[2J")

        monkeypatch.setattr("devbox.commands.listing.listing", lambda st: bug())
        monkeypatch.setenv("DEVBOX_HOME", "/nonexistent/devbox-test-store")
        assert main(["ls"]) == 1
        err = capsys.readouterr().err
        assert "internal error" in err and _raw(err) == [], err
    finally:
        signal.signal(signal.SIGTERM, previous)
