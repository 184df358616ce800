"""`devbox up` and `devbox down` (being written)."""

from __future__ import annotations

from collections.abc import Sequence

from devbox.build.progress import Display
from devbox.errors import DevboxError
from devbox.spec.model import Spec


def up(spec: Spec, names: Sequence[str], display: Display) -> list[str]:
    raise DevboxError("devbox up is not built yet")


def down(spec: Spec, names: Sequence[str], *, volumes: bool) -> list[str]:
    raise DevboxError("devbox down is not built yet")
