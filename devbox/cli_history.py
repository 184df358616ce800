"""The history and rollback verbs (typer), registered in cli.py."""

from __future__ import annotations
