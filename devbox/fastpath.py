"""The hot path of `python -m devbox run -- CMD` (and `devbox-cli`): find the project's
launcher and exec it, in a few hundred microseconds of Python, before anything else is
imported. The `devbox` command (front.sh) does the same in sh, through the by-path index, and
must keep to these rules (run_command, simple_store_root, find_project, index_entry).

Only `os` and `sys` here (both already loaded by Python's start-up). The launcher (see
launcher.py) decides by itself whether it is still valid; when it is not, it runs
`python -m devbox run` with DEVBOX_LAUNCHER_SPEC set, which skips this path.

`paths.py` builds on these functions, so the store and project ids are computed one way.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's, whose import costs ~9 ms
if TYPE_CHECKING:
    from collections.abc import Sequence

SPEC_NAME = "devbox.toml"
LAUNCHER = "launcher"
# STORE/by-path<PROJECT'S REAL PATH>/.launcher: a symlink to the project's launcher, so that the
# sh front (devbox/front.sh) finds it with builtins alone, without hashing the path
BY_PATH = "by-path"
INDEX_ENTRY = ".launcher"
# Set by a launcher that hands over to Python: go the slow way, for this spec.
HANDOVER_ENV = "DEVBOX_LAUNCHER_SPEC"
# "1": `devbox run NAME` without `--`, where NAME may be one of the spec's [scripts]
SCRIPT_ENV = "DEVBOX_RUN_SCRIPT"


def devbox_home() -> str | None:
    """DEVBOX_HOME, absolute and normalised (`~` expanded, `.`, `..` and `//` taken lexically,
    as `cd` does), or None when it is unset or empty. The store and the state dir are both
    derived from this one value; front.sh hands any DEVBOX_HOME this would change to Python."""
    env = os.environ.get("DEVBOX_HOME")
    return os.path.abspath(os.path.expanduser(env)) if env else None


def simple_store_root() -> str | None:
    """Where the store is, when that needs no library: DEVBOX_HOME, or on Linux the XDG data
    dir (as platformdirs computes it). None when only platformdirs can say."""
    home = devbox_home()
    if home is not None:
        return home
    if not sys.platform.startswith("linux"):
        return None
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if xdg.startswith("/"):
        return os.path.join(xdg, "devbox")
    home = os.environ.get("HOME")
    if home is not None and not home.startswith("/"):
        return None  # platformdirs treats a relative HOME as unset: let it decide
    return os.path.join(os.path.expanduser("~"), ".local", "share", "devbox")


def project_id(project: str) -> str:
    """A stable id for a project directory (its real path)."""
    try:  # the C module alone: hashlib loads OpenSSL (~3 ms)
        from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python 3.12 calls it _sha2
        from hashlib import sha256
    digest: str = sha256(os.path.realpath(project).encode()).hexdigest()
    return digest[:16]


def launcher_path(store_root: str, project: str) -> str:
    return os.path.join(store_root, "projects", project_id(project), LAUNCHER)


def index_entry(store_root: str, project: str) -> str:
    """The project's entry in the store's by-path index (see BY_PATH); the front builds the same
    path from the physical working directory."""
    real = os.path.realpath(project).rstrip("/")  # the root directory: by-path/.launcher
    return os.path.join(store_root, BY_PATH + real, INDEX_ENTRY)


def find_project(start: str) -> str | None:
    """The nearest directory at or above `start` with a devbox.toml (as spec.find_spec)."""
    here = os.path.abspath(start)
    while True:
        if os.path.isfile(os.path.join(here, SPEC_NAME)):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def run_command(args: Sequence[str]) -> list[str] | None:
    """CMD... for exactly `run [--] CMD...` with no options (those take the Python path)."""
    if len(args) < 2 or args[0] != "run":
        return None
    rest = list(args[1:])
    if rest[0] == "--":
        rest = rest[1:]
    elif rest[0].startswith("-"):
        return None
    return rest or None


def exec_launcher(args: Sequence[str]) -> None:
    """Become the project's launcher for `devbox run -- CMD`, if there is one; else return."""
    command = run_command(args)
    if command is None or os.environ.get(HANDOVER_ENV):
        return
    root = simple_store_root()
    if root is None:
        return
    try:
        project = find_project(os.getcwd())
        if project is None:
            return
        path = launcher_path(root, project)
        pdir = os.path.dirname(path)
        if not all(map(_ours, (root, os.path.dirname(pdir), pdir, path))):
            return  # another user's store or launcher: the Python path refuses it, saying why
        env = dict(os.environ)
        env.pop(SCRIPT_ENV, None)
        if args[1] != "--":
            env[SCRIPT_ENV] = "1"  # the launcher runs a [scripts] entry of that name, if any
        os.execve(path, [path, *command], env)
    except OSError:
        return  # no launcher yet (or the cwd is gone): the Python path says what is wrong


def _ours(path: str) -> bool:
    """Whether `path` is this user's and no one else can write it (store.private made it so):
    what another user could have planted is never run."""
    st = os.stat(path)
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022
