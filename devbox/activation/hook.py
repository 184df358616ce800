"""Auto-activation: the shell hooks (`devbox hook`, `devbox activate`) and the code they eval.

The hook templates live in `shell-hooks/`: bash and zsh share one core (`core.sh`), each followed
by a short tail of its own; fish has its own file. They find the nearest devbox.toml with shell
builtins and call devbox's hidden `_hook-env SHELL SPEC` only when something changed; `hook_env`
answers with shell code: what to watch (stamps mirroring the spec's and the trust directory's
mtimes), then, for a trusted and valid spec, one `_devbox_set NAME VALUE` per variable and
`_devbox_activated NAME`. Every value is quoted here, per shell.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from devbox.activation import covered, hookcache, trust
from devbox.activation.shellquote import quote as quote
from devbox.activation.stamps import seconds as _seconds
from devbox.activation.stamps import stamp as _stamp
from devbox.errors import DevboxError, terminal
from devbox.resources import data_dir
from devbox.sandbox.boxenv import expand
from devbox.spec import dotenv
from devbox.spec.model import Spec

SHELLS = ("bash", "zsh", "fish")
CORE = "core.sh"  # the functions bash and zsh share, written once in a syntax both accept
# Each shell's hook: these template files, joined in this order.
TEMPLATES = {"bash": (CORE, "bash.sh"), "zsh": (CORE, "zsh.zsh"), "fish": ("fish.fish",)}
PLACEHOLDER = re.compile(r"__DEVBOX_[A-Z]+__")


def check_shell(shell: str) -> str:
    if shell not in SHELLS:
        raise DevboxError(f"unknown shell {shell!r}", hint="devbox hooks bash, zsh and fish")
    return shell


def hooks_dir() -> Path:
    return data_dir("shell-hooks", CORE)


def runner_code(shell: str) -> str:
    """The command line that starts this devbox, in `shell`'s syntax."""
    from devbox.activation.shims import self_runner

    argv, env = self_runner()
    words = [f"{k}={quote(shell, v)}" for k, v in env.items() if v is not None]
    return " ".join(words + [quote(shell, a) for a in argv])


def render(shell: str, template: str) -> str:
    """`template` with its placeholders filled in for `shell`, in one pass (a value is never
    searched again): __DEVBOX_RUN__, how to start this devbox; __DEVBOX_SHELL__, the shell."""
    values = {
        "__DEVBOX_RUN__": runner_code(shell),
        "__DEVBOX_SHELL__": shell,
        "__DEVBOX_CACHE__": quote(shell, hookcache.hook_dir(shell)),
    }
    return PLACEHOLDER.sub(lambda m: values[m.group()], template)


def library(shell: str) -> str:
    """The hook's functions for `shell`, one piece of code: its template files joined (for bash
    and zsh, the shared core and then the shell's tail), placeholders filled in."""
    files = TEMPLATES[check_shell(shell)]
    return render(shell, "\n".join((hooks_dir() / name).read_text() for name in files))


def hook_text(shell: str) -> str:
    """`devbox hook SHELL`: the functions, then their installation on the prompt."""
    return library(shell) + "_devbox_install_hook\n"


def activate_text(shell: str, spec_path: Path) -> str:
    """`devbox activate`: the functions, then this project's activation, without the hook."""
    trust.read_trusted(spec_path)  # a bad spec is an error here, not a half-activation
    if shell == "fish":
        state = f"set -g _devbox_spec {quote(shell, str(spec_path))}\nset -g _devbox_pwd $PWD\n"
    else:
        state = f"_devbox_spec={quote(shell, str(spec_path))}\n_devbox_pwd=$PWD\n"
    return library(shell) + "_devbox_deactivate\n" + state + hook_env(shell, str(spec_path))


# -- what the hook evals ------------------------------------------------------------------------


def activation_vars(spec: Spec, host_env: Mapping[str, str], shims: Path) -> list[tuple[str, str]]:
    """The variables activation exports, each once: [env] files' variables, [env] (${VAR} from
    the host's environment), DEVBOX_ACTIVE, DEVBOX_PROJECT, and PATH with the shims first."""
    project = str(spec.project)
    env = dict(host_env)
    env.update(DEVBOX_ACTIVE=spec.name, DEVBOX_PROJECT=project)
    out = dotenv.load(spec)  # [env] files first: [env] wins, and may use their values
    env.update(out)
    for key, value in spec.env:
        env[key] = out[key] = expand(value, env)
    out["DEVBOX_ACTIVE"] = spec.name
    out["DEVBOX_PROJECT"] = project
    path = env.get("PATH", "")
    parts = [p for p in path.split(":") if p != str(shims)] if path else []
    out["PATH"] = ":".join([str(shims), *parts])
    return list(out.items())


def activation_code(shell: str, name: str, variables: list[tuple[str, str]]) -> str:
    lines = [f"_devbox_set {key} {quote(shell, value)}" for key, value in variables]
    lines.append(f"_devbox_activated {quote(shell, name)}")
    return "\n".join(lines) + "\n"


def watch_values(shell: str, spec_path: Path) -> list[str]:
    """What the hook compares at each prompt. Made before the spec or the trust record is read,
    so an edit after this moment always shows."""
    tdir = trust.trust_dir()
    tdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = time.time_ns()
    if shell == "fish":
        return [_seconds(spec_path, now), str(tdir), _seconds(tdir, now)]
    return [str(_stamp(spec_path, "spec", now)), str(tdir), str(_stamp(tdir, "trust", now))]


def watch_code(shell: str, values: list[str], said: str) -> str:
    """`_devbox_watch SPEC-STAMP TRUST-DIR TRUST-STAMP SAID`: SAID is what devbox last told the
    user about this spec, so that looking again after a change does not repeat it."""
    return "_devbox_watch " + " ".join(quote(shell, v) for v in [*values, said]) + "\n"


def hook_env(shell: str, spec_arg: str, said: str = "") -> str:
    """`devbox _hook-env SHELL SPEC [SAID]`: the code the hook evals for SPEC. Why nothing is
    activated (not trusted, changed, invalid) goes to stderr, unless it is SAID already; the
    watch line is always there."""
    check_shell(shell)
    spec_path = Path(spec_arg)
    values = watch_values(shell, spec_path)
    code, news = "", ""
    try:
        code, news = _activation(shell, spec_path)
    except DevboxError as e:
        news = e.render()
    except OSError as e:
        from devbox.errors import os_error

        news = os_error(e)
    if news and news != said:
        print(terminal(news), file=sys.stderr)
    output = watch_code(shell, values, news) + code
    hookcache.keep(shell, spec_arg, values, output, bool(code) and not news)
    return output


def _activation(shell: str, spec_path: Path) -> tuple[str, str]:
    """(activation code, "") for an allowed project as it was allowed (spec, lock and setup
    inputs: hashed here, as devbox is started anyway), else ("", why not). A spec that is a
    symlink is refused (covered.linked), never followed to the project it names."""
    data = covered.read_file(spec_path)
    if data is None:
        return "", ""
    verdict = trust.verdict(spec_path, data)
    spec = verdict.spec
    if verdict.state != trust.ALLOWED or spec is None:
        return "", f"devbox: {trust.refusal(spec_path, verdict)}"
    from devbox.activation.shims import write_shims

    shims = write_shims(spec)
    desktop_entries(spec, shims)
    if spec.services:
        from devbox.services.state import mention

        said = mention(spec)
        if said:
            print(terminal(said), file=sys.stderr)
    code = activation_code(shell, spec.name, activation_vars(spec, os.environ, shims))
    return code + hold_code(shell, spec), ""


def hold_code(shell: str, spec: Spec) -> str:
    """`_devbox_hold HOLDS-FIFO LAUNCHER`: the shell holds the box up while the project is
    active, and starts it in the background (sandbox/holds.py). Stable paths only, so the line
    stays right when replayed later; the shell checks both when it runs it."""
    from devbox.sandbox import sessions
    from devbox.store.paths import ProjectPaths, Store

    st = Store.default()
    paths = ProjectPaths(st.project_dir(spec.project))
    if paths.root.is_dir():  # a box entered before (else the first shim makes it, and the FIFO)
        sessions.make_fifo(paths, paths.holds)
    launcher = paths.launcher
    return f"_devbox_hold {quote(shell, str(paths.holds))} {quote(shell, str(launcher))}\n"


def desktop_entries(spec: Spec, shims: Path) -> None:
    """The project's desktop entries, written beside its shims (activation/desktop.py); a
    failure is said on stderr and activates all the same."""
    from devbox.activation import desktop
    from devbox.errors import os_error

    if spec.shell.expose or desktop.record_path(spec.project).exists():
        try:
            desktop.sync(spec, shims)
        except DevboxError as e:
            print(e.render(), file=sys.stderr)
        except OSError as e:
            print(os_error(e), file=sys.stderr)


def hook_env_main(args: list[str]) -> int:
    """The hidden verb's entry: exit 0 with something to eval; errors go to stderr."""
    if len(args) not in (2, 3):
        print("usage: devbox _hook-env SHELL SPEC [SAID] (used by the shell hook)", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(hook_env(*args))
    except DevboxError as e:
        print(e.render(), file=sys.stderr)
    except OSError as e:
        from devbox.errors import os_error

        print(os_error(e), file=sys.stderr)
    return 0


def parent_shell() -> str | None:
    """The shell that runs `eval "$(devbox activate)"`: our parent process, else $SHELL."""
    with contextlib.suppress(OSError):
        comm = Path(f"/proc/{os.getppid()}/comm").read_text().strip()
        if comm in SHELLS:
            return comm
    login = os.path.basename(os.environ.get("SHELL", ""))
    return login if login in SHELLS else None
