"""Entry point: run the CLI and map every error to the exit codes of docs/spec.md in one place.

`devbox run -- CMD` first tries the project's launcher (fastpath.py) with nothing imported
but `os` and `sys`: keep this module's top-level imports that light.
"""

from __future__ import annotations

import os
import sys

from devbox import fastpath

SHIM_ENV = "DEVBOX_SHIM_SPEC"  # set by a shim: runs for it must pass its trust check

TYPE_CHECKING = False  # not typing's: importing typing costs ~9 ms here
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C: builds are rolled back


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    fastpath.exec_launcher(args)  # returns only when there is no launcher to exec
    args = hoist_globals(args)
    import signal
    import traceback

    from devbox.errors import EXIT_ERROR, EXIT_INTERRUPTED, DevboxError, os_error, terminal

    signal.signal(signal.SIGTERM, _terminate)
    verbose = _verbose(args)
    try:
        if args[:1] == ["_shim"]:  # the hidden verbs of shims and shell hooks: no CLI framework
            from devbox.activation.entry import run_shim

            return run_shim(args[1:])
        if args[:1] == ["_hook-env"]:
            from devbox.activation.hook import hook_env_main

            return hook_env_main(args[1:])
        from devbox.activation.entry import enter_box, parse_fast

        fast = parse_fast(args)
        shim_spec = os.environ.get(SHIM_ENV)
        if fast is not None and fast[1] and shim_spec:  # a shim's launcher handed over:
            from devbox.activation.entry import run_shim  # its trust check, not plain `run`

            return run_shim([shim_spec, *fast[1]])
        if fast is not None:  # run and shell skip the CLI framework's ~0.2 s of imports
            _, command, root, display, named = fast
            enter_box(command, root=root, display=display, named=named)
            return 0  # not reached: enter_box execs
        from devbox.cli import app

        try:
            rv = app(args=args, prog_name="devbox", standalone_mode=False)
        except Exception as e:
            code = _cli_framework_exit(e)
            if code is None:
                raise
            return code
        if rv == EXIT_INTERRUPTED:  # typer returns KeyboardInterrupt as Exit(130)
            print("devbox: interrupted", file=sys.stderr)
        return rv if isinstance(rv, int) else 0
    except DevboxError as e:
        print(e.render(), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("devbox: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR
    except OSError as e:  # the disk, permissions, a read-only filesystem: say what and where
        if verbose:
            traceback.print_exc()
        print(os_error(e), file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:
        if verbose:
            traceback.print_exc()
        log = _crash_log(e, args)
        where = (
            f"  the traceback is in {log}: please report it with that file"
            if log
            else "  rerun with --verbose for the traceback, and please report it"
        )
        bug = f"devbox: internal error (this is a bug in devbox): {type(e).__name__}: {e}"
        print(terminal(f"{bug}\n{where}"), file=sys.stderr)
        return EXIT_ERROR


GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet")
HIDDEN_VERBS = ("_shim", "_hook-env")


def _global_flag(arg: str) -> bool:
    """`-v`, `-q`, `--verbose`, `--quiet`, or short ones together (`-qv`)."""
    return arg in GLOBAL_FLAGS or (len(arg) > 2 and arg[0] == "-" and set(arg[1:]) <= {"v", "q"})


def hoist_globals(args: Sequence[str]) -> list[str]:
    """`args` with devbox's own `-v`/`-q` given after the verb moved before it, where the CLI
    reads them: `devbox build -v` is `devbox -v build`. Not past `--`, not from what `run` runs
    (only its options before the command are devbox's), not for the hidden verbs."""
    args = list(args)
    verb = next((i for i, a in enumerate(args) if not a.startswith("-") or a == "--"), None)
    if verb is None or args[verb] == "--" or args[verb] in HIDDEN_VERBS:
        return args
    moved: list[str] = []
    rest: list[str] = []
    for n, arg in enumerate(args[verb + 1 :], verb + 1):
        if arg == "--" or (args[verb] == "run" and not arg.startswith("-")):
            rest += args[n:]
            break
        (moved if _global_flag(arg) else rest).append(arg)
    return [*args[:verb], *moved, args[verb], *rest]


def _verbose(args: Sequence[str]) -> bool:
    """Whether devbox's own `--verbose`/`-v` is given: among the global options before the verb
    (all flags: `-v`, `-q`, `-qv`, `--verbose`, `--quiet`, `--version`, `-h`), never in the
    verb's arguments or the command `run` runs (`devbox run -- grep --verbose`)."""
    for arg in args:
        if arg == "--verbose":
            return True
        if arg == "--":
            return False  # the end of options: no global option follows
        if arg.startswith("--"):
            continue  # another global option
        if arg.startswith("-") and len(arg) > 1:
            if "v" in arg[1:]:
                return True
            continue
        return False  # the verb: what follows is its own
    return False


def _crash_log(e: BaseException, args: Sequence[str]) -> str | None:
    from devbox.errors import crash_log

    try:
        from devbox.store.paths import Store

        logs = Store.default().logs  # only into a store that is the user's own
    except Exception:
        return None
    return crash_log(e, args, logs)


def _cli_framework_exit(e: Exception) -> int | None:
    """The exit status for the CLI framework's own exceptions (usage errors, aborts, exits), by
    class; None for anything else. Reached only after the CLI framework ran, so importing it
    here costs nothing and keeps it off the fast path."""
    import typer

    from devbox.errors import EXIT_INTERRUPTED, EXIT_USAGE

    click = _click_exceptions()
    if isinstance(e, typer.Abort):  # typer's (or click's) name for KeyboardInterrupt
        print("devbox: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(e, typer.Exit):
        return int(e.exit_code)
    if isinstance(e, click.UsageError):  # NoSuchOption, BadParameter, MissingParameter, ...
        _show(e)
        return EXIT_USAGE
    if isinstance(e, click.ClickException):
        _show(e)
        return int(e.exit_code)
    return None


def _show(e: Any) -> None:
    """The CLI framework's message for `e`, which quotes the user's arguments, made printable."""
    import io

    from devbox.errors import terminal

    buf = io.StringIO()
    e.show(file=buf)
    print(terminal(buf.getvalue()), end="", file=sys.stderr)


def _click_exceptions() -> Any:
    """The click exceptions module typer raises from: its vendored copy (recent typers), else
    click itself (older typers build on click and re-export its Abort and Exit)."""
    import importlib

    try:
        return importlib.import_module("typer._click.exceptions")
    except ImportError:
        return importlib.import_module("click.exceptions")


if __name__ == "__main__":
    sys.exit(main())
