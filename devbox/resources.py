"""Files devbox ships beside its code: the shell hooks and the starter specs; and which of its
own files (sources, script templates) a module is made of.

A wheel carries the hooks and specs under `devbox/_data/` (pyproject's force-include); a checkout
(an editable install) has them at the repository's top level. Script templates (`*.sh.in`) sit
beside the module that fills them, in both.
"""

from __future__ import annotations

import functools
import re
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


# `from devbox.x import a, b as c` (parenthesised lists too) and `import devbox.x`, anywhere
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(devbox[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]*)"
    r"|import[ \t]+(devbox[\w.]*))",
    re.MULTILINE,
)
_TEMPLATE = re.compile(r"[\"']([\w.-]+\.sh\.in)[\"']")  # a template a module loads, by name


@functools.cache
def made_of(*modules: str) -> tuple[str, ...]:
    """devbox's own files that `modules` are made of, sorted: their sources, those of every
    devbox module they import, directly or not (an import inside a function counts too), and of
    the packages on the way, and the script templates (`*.sh.in`) those sources name, beside
    them. Read from the sources, not from what this process has imported, so every process
    gets the same answer."""
    files: dict[str, Path | None] = {}
    templates: set[Path] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in files:
            continue
        files[name] = path = _module_file(name)
        if path is None:
            continue  # a name imported from a module, not a module
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        text = path.read_text(encoding="utf-8")
        named = {path.with_name(t) for t in _TEMPLATE.findall(text)}
        templates |= {t for t in named if t.is_file()}
        for frm, names, plain in _IMPORT.findall(text):
            todo.append(frm or plain)
            for word in re.sub(r"#[^\n]*", "", names).strip("()").split(","):
                if word.split():
                    todo.append(f"{frm}.{word.split()[0]}")
    found = {p for p in files.values() if p is not None} | templates
    return tuple(sorted(str(p) for p in found))


def _module_file(name: str) -> Path | None:
    base = PACKAGE.parent.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None
