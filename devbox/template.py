"""Shell scripts from template files: devbox writes every script it generates (the launcher, the
shims, the box supervisor) by filling a template shipped beside the module that owns it.

A placeholder is a name in capitals between at signs (`@SPEC@`). Each value is quoted for sh
here, one word, unless it is `Code`: shell code whose values whoever built it has quoted
already (a list of quoted argv words, one test per watched file). A placeholder without a
value, or a value without a placeholder, is an error: a template and its filler cannot drift
apart silently.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path

PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


class Code(str):
    """Shell code for a placeholder, inserted as it is: its values are quoted already."""

    __slots__ = ()


def load(module_file: str, name: str) -> str:
    """The template `name` that ships beside the module `module_file` (its `__file__`)."""
    return Path(module_file).with_name(name).read_text(encoding="utf-8")


def fill(
    template: str, values: Mapping[str, str], quote: Callable[[str], str] = shlex.quote
) -> str:
    """`template` with every @NAME@ replaced by `quote(values[NAME])` (a Code value as it is)."""
    wanted = set(PLACEHOLDER.findall(template))
    missing, unused = wanted - values.keys(), values.keys() - wanted
    if missing or unused:
        raise ValueError(
            f"template placeholders without a value: {sorted(missing)}; "
            f"values without a placeholder: {sorted(unused)}"
        )

    def one(m: re.Match[str]) -> str:
        value = values[m.group(1)]
        return value if isinstance(value, Code) else quote(value)

    return PLACEHOLDER.sub(one, template)
