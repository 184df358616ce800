"""`devbox allow` and `devbox deny`: the project here, trusted or not, told in one line (and
its desktop entries, written or removed, in another)."""

from __future__ import annotations

from devbox.activation import desktop, hookcache, trust
from devbox.activation.entry import spec_here, spec_path_here
from devbox.errors import printable


def allow_here() -> str:
    spec, data = spec_here()
    trust.allow(spec, data)
    hookcache.clear()
    where = printable(str(spec.path))
    said: list[str] = []
    entries = desktop.refresh_or_say(spec, data, said.append)
    return "\n".join([
        f"devbox: allowed {where} (with its devbox.lock and setup inputs as they are now): "
        "the shell hook activates it, its shims run it",
        *([f"devbox: desktop entries: {_names(entries)}"] if entries else []),
        *said,
    ])  # fmt: skip


def deny_here() -> str:
    found = spec_path_here()
    was = trust.deny(found)
    hookcache.clear()  # the trust dir's mtime tells every cache already: this leaves none
    gone = desktop.forget(found.parent)
    line = f"devbox: {'denied' if was else 'was not allowed'}: {printable(str(found))}"
    return line + (f"\ndevbox: desktop entries removed: {_names(gone)}" if gone else "")


def _names(entries: list[desktop.Written]) -> str:
    return ", ".join(f"{printable(e.name)} ({printable(e.entry)})" for e in entries)
