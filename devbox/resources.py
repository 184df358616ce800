"""Files devbox ships beside its code: the shell hooks and the starter specs.

A wheel carries them under `devbox/_data/` (pyproject's force-include); a checkout (an editable
install) has them at the repository's top level.
"""

from __future__ import annotations

from pathlib import Path

from devbox.errors import DevboxError

PACKAGE = Path(__file__).parent


def data_dir(name: str, marker: str) -> Path:
    """The shipped directory `name` (`shell-hooks`, `templates`), known by a file `marker` in it."""
    for candidate in (PACKAGE / "_data" / name, PACKAGE.parent / name):
        if (candidate / marker).is_file():
            return candidate
    raise DevboxError(
        f"devbox's {name} are missing from this installation", hint="reinstall devbox"
    )
