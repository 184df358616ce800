"""`devbox services` (being written)."""

from __future__ import annotations

from typing import Any

from devbox.errors import DevboxError
from devbox.spec.model import Spec


def report(spec: Spec) -> list[str]:
    raise DevboxError("devbox services is not built yet")


def report_json(spec: Spec) -> dict[str, Any]:
    raise DevboxError("devbox services is not built yet")
