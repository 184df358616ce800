"""The export, push and pull verbs (typer), registered in cli.py."""

from __future__ import annotations
