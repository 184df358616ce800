"""`devbox allow` and `devbox deny`: the project here, trusted or not, told in one line."""

from __future__ import annotations

from devbox.activation import trust
from devbox.activation.entry import spec_here, spec_path_here
from devbox.errors import printable


def allow_here() -> str:
    spec, data = spec_here()
    trust.allow(spec, data)
    where = printable(str(spec.path))
    return (
        f"devbox: allowed {where} (with its devbox.lock and setup inputs as they are now): "
        "the shell hook activates it, its shims run it"
    )


def deny_here() -> str:
    found = spec_path_here()
    was = trust.deny(found)
    return f"devbox: {'denied' if was else 'was not allowed'}: {printable(str(found))}"
