"""`devbox logs` (being written)."""

from __future__ import annotations

from devbox.errors import DevboxError
from devbox.spec.model import Spec


def show(spec: Spec, name: str | None, *, follow: bool, lines: int) -> None:
    raise DevboxError("devbox logs is not built yet")
